# Input functions and constants of rules/properties.smk (the loop's final potential, the stages
# whose properties the report shows).
from mlip_autopipec.properties.jobs import n_property_jobs, runs_md_stability, runs_oracle_equilibrium
from mlip_autopipec.plan import property_stages

PROPS = RCFG.cfg.properties
PROPERTY_JOBS = n_property_jobs(RCFG) if PROPS.enabled else 0
MD_STABILITY = runs_md_stability(RCFG)
ORACLE_EQUILIBRIUM = runs_oracle_equilibrium(RCFG)


def oracle_equilibrium_files(wildcards):
    """The oracle's relaxed crystal (+ its record) the oracle's tasks start from; [] in cheap mode,
    for slabs and clusters."""
    if not ORACLE_EQUILIBRIUM:
        return []
    return [L.oracle_equilibrium(wildcards.stage, "extxyz"), L.oracle_equilibrium(wildcards.stage, "json")]


def computed_property_stages():
    """Stages whose properties the run computes and the report shows (plan.property_stages: one rule
    for the DAG and the plan)."""
    return property_stages(RCFG.cfg, walk_decisions()[1].iteration)


def property_stage_targets(wildcards=None):
    """What the report waits for ([] when the stage is off): each potential's records, the final
    one's among them, so the report need not wait for their copy in final/."""
    if not PROPS.enabled:
        return []
    return [L.stage_properties(s) for s in computed_property_stages()]


def properties_targets(wildcards=None):
    """What `all` waits for ([] when the stage is off)."""
    return [L.FINAL_PROPERTIES, *property_stage_targets()] if PROPS.enabled else []


GATE_PROPERTIES = RCFG.cfg.convergence.properties


def gate_property_files(n):
    """convergence.properties: the gate of iteration n reads the properties of the potential it explored."""
    return [L.stage_properties(L.potential_stage_for(n))] if GATE_PROPERTIES else []


def property_offer_files(n):
    return [L.property_offer(n)] if GATE_PROPERTIES else []
