"""The property groups, each one small object registered once: what it needs computed, what it makes
of the results, how the potential's side is judged against the oracle's.

  applies(system)      does the group apply to this structure (bulk crystal, slab, cluster)?
  tasks(system, pcfg)  its calculations: Atoms tagged with `info['prop_task']` (the same list for the
                       potential and the oracle)
  analyze(results, system, pcfg) -> (values, details): one side's values by property name and what
                       the report shows (fits, matrices, frequencies, in details.json); a KeyError (a
                       missing calculation), ValueError or LinAlgError fails the group on that side
  quantities           how each value (and row) it reports is judged: unit, tolerance, kind
  records(oracle_details, potential_details, pcfg): rows that compare the two sides' details rather
                       than one value of each (phonon and vibration RMSE, relaxed-geometry RMSD)

The physics lives in the group's module (eos.py, elastic.py, ...); a group here only unpacks the
config and the system for it. The stage's generic code (`system.build_tasks`, `analyze.analyze`,
`compare.compare`, `jobs.py`) asks `GROUPS` instead of naming groups. The names are the config's
(`domain_models.properties_config.ALL_GROUPS`, validated before any of this loads); this module refuses
to load when a name has no group or two. Cross-group checks (`CHECKS`: B from the C_ij against the EOS
B0) run after the groups they need.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from ase import Atoms

from ..domain_models.properties_config import (ALL_GROUPS, ELASTIC, EOS, MD_STABILITY, PHONONS, RELAXATION,
                                                SURFACE, VACANCY, VIBRATIONS)
from ..domain_models.property_records import PropertyRecord
from . import consistency, elastic, eos, phonons, surface, tag, vacancy, vibrations
from .judge import Quantity, record

RELAXATION_TASK = "relaxation/start"


class PropertyGroup:
    """The interface (see the module's docstring); `system` is a `system.PropertySystem` (not imported:
    it asks this registry which groups apply)."""

    name: ClassVar[str]  # one of ALL_GROUPS
    quantities: ClassVar[dict[str, Quantity]] = {}

    def applies(self, system) -> bool:
        """Bulk crystals, unless the group says otherwise."""
        return system.kind == "bulk"

    def tasks(self, system, pcfg) -> list[Atoms]:
        return []

    def analyze(self, results: dict[str, Atoms], system, pcfg) -> tuple[dict[str, float], dict]:
        return {}, {}

    def records(self, oracle: dict, potential: dict, pcfg) -> list[PropertyRecord]:
        return []

    def quantity(self, name: str) -> Quantity | None:
        return self.quantities.get(name)


class Eos(PropertyGroup):
    """E(V) of the EOS cell: a0 (a bulk spec's; a structure file has none), V0 per atom, B0; B0', its
    standard error and the points as details."""

    name = EOS
    quantities = {"lattice_constant": Quantity("Å", "lattice_constant", "rel"),
                  "volume_per_atom": Quantity("Å^3", "lattice_constant", "rel3"),
                  "bulk_modulus": Quantity("GPa", "bulk_modulus", "rel")}

    def tasks(self, system, pcfg):
        return eos.tasks(system.cell(pcfg.cell), pcfg.eos_points, pcfg.eos_range)

    def analyze(self, results, system, pcfg):
        cell = system.cell(pcfg.cell)
        values = eos.analyze(results, cell, system.a or float(cell.cell.lengths()[0]))
        if system.a is None:
            values.pop("lattice_constant")
        details = {k: values.pop(k) for k in ("bulk_modulus_derivative", "bulk_modulus_se") if k in values}
        details["points"] = [[results[k].get_volume() / len(results[k]),
                              results[k].get_potential_energy() / len(results[k])]
                             for k in sorted(results) if k.startswith(eos.PREFIX)]
        return values, {EOS: details}


class Elastic(PropertyGroup):
    """The elastic constants (cubic: C11, C12, C44; else every independent C_ij) and the 6x6 matrix."""

    name = ELASTIC

    def quantity(self, name):
        return Quantity("GPa", "elastic", "rel") if name.startswith("C") and name[1:].isdigit() else None

    def tasks(self, system, pcfg):
        return elastic.tasks(system.cell(pcfg.cell), pcfg.strain, system.relax_ions(pcfg.relax_ions),
                             pcfg.elastic_components)

    def analyze(self, results, system, pcfg):
        values, matrix = elastic.analyze(results, pcfg.strain, system.cubic)
        return values, {elastic.MATRIX: matrix}


class Vacancy(PropertyGroup):
    name = VACANCY
    quantities = {"vacancy_formation_energy": Quantity("eV", "vacancy_formation_energy", "abs")}

    def tasks(self, system, pcfg):
        return vacancy.tasks(system.conventional, pcfg.vacancy_supercell)

    def analyze(self, results, system, pcfg):
        return vacancy.analyze(results), {}


class Surface(PropertyGroup):
    """A bulk fcc crystal: its three low-index facets; a slab: its own surface against a bulk reference."""

    name = SURFACE
    quantities = {**{f"surface_energy_{facet}": Quantity("J/m^2", "surface_energy", "rel") for facet in surface.FACETS},
                  "surface_energy": Quantity("J/m^2", "surface_energy", "rel")}

    def applies(self, system):
        return system.kind == "slab" or (system.kind == "bulk" and system.crystal == "fcc")

    def tasks(self, system, pcfg):
        if system.kind == "slab":
            return surface.slab_tasks(system.primitive, system.bulk_reference)
        return surface.tasks(system.element, system.a, system.primitive, pcfg.slab_layers, pcfg.vacuum)

    def analyze(self, results, system, pcfg):
        return (surface.slab_analyze(results) if system.kind == "slab" else surface.analyze(results)), {}


class Phonons(PropertyGroup):
    """Frequencies at the high-symmetry points (details); the row is their RMSE against the oracle's."""

    name = PHONONS
    quantities = {"phonon_rmse": Quantity("THz", "phonon_rmse", "max")}
    DETAIL = "phonon_frequencies_THz"

    def tasks(self, system, pcfg):
        return phonons.tasks(system.primitive, pcfg.phonon_supercell, pcfg.phonon_delta)

    def analyze(self, results, system, pcfg):
        return {}, {self.DETAIL: phonons.frequencies(results, system.primitive, pcfg.phonon_supercell,
                                                     pcfg.phonon_delta)}

    def records(self, oracle, potential, pcfg):
        if self.DETAIL not in oracle or self.DETAIL not in potential:
            return []
        rmse = phonons.rmse(potential[self.DETAIL], oracle[self.DETAIL])
        return [record("phonon_rmse", self.quantities["phonon_rmse"], None, rmse, pcfg.tolerances.phonon_rmse,
                       pcfg.reference.get("phonon_rmse"))]


class Vibrations(PropertyGroup):
    """A relaxed cluster's internal frequencies (details); the row is their RMSE against the oracle's, not
    judged (`skipped`) when the oracle's relaxed structure is a saddle point (vibrations.py)."""

    name = VIBRATIONS
    quantities = {"vibration_rmse": Quantity("THz", "vibration_rmse", "max")}
    DETAIL = "vibration_frequencies_THz"

    def applies(self, system):
        return system.kind == "cluster"

    def tasks(self, system, pcfg):
        return vibrations.tasks(system.primitive, pcfg.phonon_delta)

    def analyze(self, results, system, pcfg):
        return {}, {self.DETAIL: vibrations.analyze(results)}

    def records(self, oracle, potential, pcfg):
        if self.DETAIL not in oracle or self.DETAIL not in potential:
            return []
        rmse = vibrations.rmse(potential[self.DETAIL], oracle[self.DETAIL])
        tol = pcfg.tolerances.vibration_rmse
        row = record("vibration_rmse", self.quantities["vibration_rmse"], None, rmse, tol,
                     pcfg.reference.get("vibration_rmse"))
        saddle = vibrations.saddle_point(oracle[self.DETAIL], tol)
        return [row if saddle is None else row.model_copy(update={"ok": True, "skipped": saddle})]


class Relaxation(PropertyGroup):
    """A slab's or cluster's relaxed positions (details); the row is their RMSD against the oracle's."""

    name = RELAXATION
    quantities = {"relaxed_geometry_rmsd": Quantity("Å", "relaxed_geometry_rmsd", "max")}
    DETAIL = "relaxed_positions"

    def applies(self, system):
        return system.kind in ("slab", "cluster")

    def tasks(self, system, pcfg):
        return [tag(system.primitive.copy(), RELAXATION_TASK, relax=True)]

    def analyze(self, results, system, pcfg):
        return {}, {self.DETAIL: results[RELAXATION_TASK].positions.round(5).tolist()}

    def records(self, oracle, potential, pcfg):
        if self.DETAIL not in oracle or self.DETAIL not in potential:
            return []
        d = np.asarray(potential[self.DETAIL]) - np.asarray(oracle[self.DETAIL])
        rmsd = float(np.sqrt((d**2).sum(axis=1).mean()))
        return [record("relaxed_geometry_rmsd", self.quantities["relaxed_geometry_rmsd"], None, rmsd,
                       pcfg.tolerances.relaxed_geometry_rmsd)]


class MdStability(PropertyGroup):
    """NVE MD with the potential alone, in a job of its own (`md_stability.py` runs it and makes its
    rows): no tasks here."""

    name = MD_STABILITY
    quantities = {"md_max_gamma": Quantity("-", "md_max_gamma", "max"),
                  "md_energy_drift": Quantity("eV/atom", "md_energy_drift", "max"),
                  "md_min_distance": Quantity("Å", "", "min")}


def _register(*groups: PropertyGroup) -> dict[str, PropertyGroup]:
    """name -> group. The order is that of the comparison rows (`records`) in the table."""
    out: dict[str, PropertyGroup] = {}
    for g in groups:
        if g.name in out:
            raise RuntimeError(f"property group {g.name!r} registered twice")
        out[g.name] = g
    missing, unknown = set(ALL_GROUPS) - set(out), set(out) - set(ALL_GROUPS)
    if missing or unknown:
        raise RuntimeError(f"property groups of the config without code: {sorted(missing)}; "
                           f"registered but not in the config's vocabulary: {sorted(unknown)}")
    return out


GROUPS: dict[str, PropertyGroup] = _register(Eos(), Elastic(), Vacancy(), Surface(), Phonons(), Vibrations(),
                                             Relaxation(), MdStability())
CHECKS = (consistency.BulkModulusCheck(),)


def applicable(system, include) -> list[str]:
    """The groups of `include` that apply to `system`, in the order of `include`."""
    return [g for g in include if GROUPS[g].applies(system)]


def quantity(name: str) -> Quantity:
    """How the value `name` is judged (KeyError: no group reports it)."""
    for g in GROUPS.values():
        q = g.quantity(name)
        if q is not None:
            return q
    raise KeyError(name)
