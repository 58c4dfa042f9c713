"""Turn computed tasks into property values; run identically on the potential's and the oracle's."""

from __future__ import annotations

import logging

import numpy as np
from ase import Atoms

from . import equilibrium
from .registry import CHECKS, GROUPS, applicable
from .system import PropertySystem

log = logging.getLogger(__name__)


def analyze(results: dict[str, Atoms], system: PropertySystem, pcfg) -> tuple[dict[str, float], dict, dict]:
    """(values, details, errors): values by property name; details (fits, matrices, frequencies)
    for the report; errors by group for what could not be computed (e.g. a failed oracle task).

    A bulk crystal's tasks were built at this side's equilibrium (`results[equilibrium.TASK]`), so
    the analysis rebuilds the system there (the phonons replay the displaced cells of that primitive)."""
    values: dict[str, float] = {}
    details: dict = {}
    errors: dict[str, str] = {}
    if system.has_equilibrium and equilibrium.TASK in results:
        start = system
        system = system.at_equilibrium(results[equilibrium.TASK], pcfg.cell)
        details["equilibrium"] = equilibrium.summary(start.cell(pcfg.cell), results[equilibrium.TASK], start.a)
    groups = applicable(system, pcfg.include)
    for g in groups:
        try:
            v, d = GROUPS[g].analyze(results, system, pcfg)
        except KeyError as exc:
            errors[g] = f"missing calculation {exc}"
            continue
        except (ValueError, np.linalg.LinAlgError) as exc:
            errors[g] = str(exc)
            continue
        values.update(v)
        details.update(d)
    for check in CHECKS:
        result = check.analyze(values, details, system, pcfg, groups)
        if result is not None:
            details[check.name] = result
    for g, msg in errors.items():
        log.warning("property group %s could not be computed: %s", g, msg)
    return values, details, errors
