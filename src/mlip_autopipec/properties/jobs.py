"""How much work the properties stage is, from the config alone: Snakemake's job slots (the DAG needs
them before any potential exists) and what `mlip-runner plan` counts.

The task list does not depend on the potential (only the geometries do: each model's equilibrium),
so the number of oracle calculations per potential and the label-job scatter are fixed; no
checkpoint is needed.
"""

from __future__ import annotations

import math

from ..domain_models.properties_config import MD_STABILITY
from . import RELAX, equilibrium
from .system import build_tasks, property_system
from .vibrations import VIB


def per_job(rcfg) -> int:
    p = rcfg.cfg.properties
    return p.structures_per_job or rcfg.cfg.labeling.structures_per_job


def property_tasks(rcfg) -> list:
    """The oracle's `property_label` tasks (cheap mode: its single point at the potential's equilibrium too)."""
    pcfg, system = rcfg.cfg.properties, property_system(rcfg)
    extra = [equilibrium.task(system.cell(pcfg.cell))] if pcfg.cheap and system.has_equilibrium else []
    if extra:
        extra[0].info[RELAX] = False
    return build_tasks(pcfg, system) + extra


def runs_oracle_equilibrium(rcfg) -> bool:
    """The oracle relaxes the bulk crystal in a job of its own (`property_equilibrium`): bulk
    systems outside cheap mode."""
    p = rcfg.cfg.properties
    return p.enabled and not p.cheap and property_system(rcfg).has_equilibrium


def n_property_jobs(rcfg) -> int:
    """Oracle (`property_label`) jobs per potential."""
    return max(1, math.ceil(len(property_tasks(rcfg)) / per_job(rcfg)))


def runs_md_stability(rcfg) -> bool:
    """The MD stability run applies to bulk crystals only (it repeats the conventional cell)."""
    p = rcfg.cfg.properties
    return p.enabled and MD_STABILITY in property_system(rcfg).groups(p.include)


def jobs_per_potential(rcfg) -> dict[str, int]:
    """Snakemake jobs of one potential's properties, by rule."""
    if not rcfg.cfg.properties.enabled:
        return {}
    jobs = {"property_tasks": 1, "property_label": n_property_jobs(rcfg), "md_stability": 1, "properties": 1}
    if not runs_md_stability(rcfg):
        del jobs["md_stability"]
    if runs_oracle_equilibrium(rcfg):
        jobs["property_equilibrium"] = 1
    return jobs


def oracle_calculations(rcfg) -> dict[str, int]:
    """Oracle calculations per potential: every task is one labelled, cached structure; a relaxation
    (or a cluster's relaxation + Hessian, or the bulk crystal's equilibrium) is one cached result of
    many oracle calls."""
    tasks = property_tasks(rcfg) if rcfg.cfg.properties.enabled else []
    cheap = rcfg.cfg.properties.cheap
    eq = runs_oracle_equilibrium(rcfg) if rcfg.cfg.properties.enabled else False
    return {"calculations": len(tasks) + eq,
            "relaxations": eq + (0 if cheap else sum(bool(t.info.get(RELAX)) for t in tasks)),
            "hessians": sum(bool(t.info.get(VIB)) for t in tasks)}
