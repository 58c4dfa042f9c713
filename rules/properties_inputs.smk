# Input functions and constants of rules/properties.smk (the loop's final potential, the stages
# whose properties the report shows).
from mlip_autopipec.properties.jobs import n_property_jobs, runs_md_stability, runs_oracle_equilibrium
from mlip_autopipec.steps.properties import FINAL_FILE

PROPS = RCFG.cfg.properties
PROPERTY_JOBS = n_property_jobs(RCFG) if PROPS.enabled else 0
MD_STABILITY = runs_md_stability(RCFG)
ORACLE_EQUILIBRIUM = runs_oracle_equilibrium(RCFG)


def oracle_equilibrium_files(wildcards):
    """The oracle's relaxed crystal (+ its record) the oracle's tasks start from; [] in cheap mode,
    for slabs and clusters."""
    if not ORACLE_EQUILIBRIUM:
        return []
    return [f"{wildcards.stage}/properties/oracle_equilibrium.extxyz",
            f"{wildcards.stage}/properties/oracle_equilibrium.json"]


def property_stages():
    """Stages whose properties the report shows: every N-th explored potential, and the final."""
    final_n = walk_decisions()[1].iteration
    stages = [L.potential_stage_for(k) for k in range(0, final_n + 1, PROPS.every)] if PROPS.every else []
    return list(dict.fromkeys([*stages, final_stage()]))


def property_stage_targets(wildcards=None):
    """What the report waits for ([] when the stage is off): each potential's records, the final
    one's among them, so the report need not wait for their copy in final/."""
    if not PROPS.enabled:
        return []
    return [L.stage_properties(s) for s in property_stages()]


def properties_targets(wildcards=None):
    """What `all` waits for ([] when the stage is off)."""
    return [FINAL_FILE, *property_stage_targets()] if PROPS.enabled else []


GATE_PROPERTIES = RCFG.cfg.convergence.properties


def gate_property_files(n):
    """convergence.properties: the gate of iteration n reads the properties of the potential it explored."""
    return [L.stage_properties(L.potential_stage_for(n))] if GATE_PROPERTIES else []


def property_offer_files(n):
    return [f"iter_{L.it_str(n)}/property_offer.xyz"] if GATE_PROPERTIES else []
