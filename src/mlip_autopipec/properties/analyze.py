"""Turn computed tasks into property values; run identically on the potential's and the oracle's."""

from __future__ import annotations

import logging

import numpy as np
from ase import Atoms

from . import consistency, elastic, eos, equilibrium, phonons, surface, vacancy, vibrations
from .system import RELAXATION, PropertySystem

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
    for g in system.groups(pcfg.include):
        try:
            if g == "eos":
                cell = system.cell(pcfg.cell)
                v = eos.analyze(results, cell, system.a or float(cell.cell.lengths()[0]))
                if system.a is None:  # a structure file: no lattice constant to speak of
                    v.pop("lattice_constant")
                details["eos"] = {k: v.pop(k) for k in ("bulk_modulus_derivative", "bulk_modulus_se") if k in v}
                details["eos"]["points"] = [[results[k].get_volume() / len(results[k]),
                                             results[k].get_potential_energy() / len(results[k])]
                                            for k in sorted(results) if k.startswith(eos.PREFIX)]
                values.update(v)
            elif g == "elastic":
                v, matrix = elastic.analyze(results, pcfg.strain, system.cubic)
                values.update(v)
                details["elastic_matrix_GPa"] = matrix
            elif g == "vacancy":
                values.update(vacancy.analyze(results))
            elif g == "surface" and system.kind == "slab":
                values.update(surface.slab_analyze(results))
            elif g == "surface":
                values.update(surface.analyze(results))
            elif g == "phonons":
                details["phonon_frequencies_THz"] = phonons.frequencies(
                    results, system.primitive, pcfg.phonon_supercell, pcfg.phonon_delta)
            elif g == "vibrations":
                details["vibration_frequencies_THz"] = vibrations.analyze(results)
            elif g == "relaxation":
                details["relaxed_positions"] = results[RELAXATION].positions.round(5).tolist()
        except KeyError as exc:
            errors[g] = f"missing calculation {exc}"
        except (ValueError, np.linalg.LinAlgError) as exc:
            errors[g] = str(exc)
    if system.has_equilibrium and {"eos", "elastic"} <= set(system.groups(pcfg.include)):
        details[consistency.NAME] = consistency.bulk_modulus_check(
            values, details.get("elastic_matrix_GPa"), details.get("eos", {}).get("bulk_modulus_se"), system.cubic,
            system.relax_ions(pcfg.relax_ions), pcfg.tolerances.bulk_modulus_consistency)
    for g, msg in errors.items():
        log.warning("property group %s could not be computed: %s", g, msg)
    return values, details, errors
