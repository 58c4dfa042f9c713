"""Surface energies of the low-index fcc facets from relaxed symmetric slabs, and of a slab read
from a structure file.

γ = (E_slab − N · e_bulk) / 2A with e_bulk the energy per atom of the bulk crystal at the same
lattice constant as the slab, so the potential and the oracle see identical slabs and the bulk
term cancels exactly the strain both would otherwise carry.

A slab from a file brings no bulk with it. Its reference is a bulk crystal computed by the same
calculator (`properties.surface_bulk`: a structure of the config; else, for a single-element slab,
ase.build.bulk of that element in ASE's reference state, e.g. fcc Cu at 3.61 Å) — build the slab
with that crystal's lattice constant, or the in-plane strain enters γ. Several elements need a
bulk whose composition the slab's is a multiple of (N = formula units): γ of a slab with a
different composition depends on chemical potentials, which this check does not guess. Two
faces: γ is their mean when the slab is not symmetric.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import fcc100, fcc110, fcc111

from ..core.errors import StructureError
from ..domain_models.properties_config import SURFACE, SURFACE_FACETS
from . import EV_PER_A2_TO_J_PER_M2, tag

BULK = "surface/bulk"
FACETS = dict(zip(SURFACE_FACETS, (fcc111, fcc100, fcc110)))


def tasks(element: str, a: float, primitive: Atoms, layers: int, vacuum: float) -> list[Atoms]:
    out = [tag(primitive.copy(), BULK)]
    for facet, build in FACETS.items():
        slab = build(element, size=(1, 1, layers), a=a, vacuum=vacuum, periodic=True)
        out.append(tag(slab, f"surface/{facet}", relax=True))
    return out


def training_slabs(element: str, a: float, layers: int, vacuum: float, repeat: int = 2) -> list[Atoms]:
    """The slabs of `tasks`, `repeat` x `repeat` in plane, for the initial data
    (`initial_data.surface_slabs`): the potential is then fitted on the surfaces whose energies the
    properties stage computes. A 1x1 cell only lets whole columns move; 2x2 lets the atoms of a layer
    move apart and is still small (20 atoms at 5 layers) for a DFT oracle. Periodic in z with the vacuum
    gap, as the properties stage's own slabs are (the oracle sees the same cells). ``info['facet']``
    names each ('surface_111', the portfolio's kind names)."""
    out = []
    for facet, build in FACETS.items():
        slab = build(element, size=(repeat, repeat, layers), a=a, vacuum=vacuum, periodic=True)
        slab.info["facet"] = f"surface_{facet}"  # a name, not a number, through extxyz
        out.append(slab)
    return out


def analyze(results: dict[str, Atoms]) -> dict[str, float]:
    bulk = results[BULK]
    e_atom = bulk.get_potential_energy() / len(bulk)
    out = {}
    for facet in FACETS:
        slab = results[f"surface/{facet}"]
        area = float(np.linalg.norm(np.cross(slab.cell[0], slab.cell[1])))
        gamma = (slab.get_potential_energy() - len(slab) * e_atom) / (2 * area)
        out[f"surface_energy_{facet}"] = gamma * EV_PER_A2_TO_J_PER_M2
    return out


SLAB, SLAB_BULK = "surface/slab", "surface/slab_bulk"


def formula_units(slab: Atoms, bulk: Atoms) -> float:
    """How many bulk cells the slab holds; a slab whose composition is no multiple of the bulk's is
    refused (its surface energy would need chemical potentials)."""
    from collections import Counter

    cs, cb = Counter(slab.get_chemical_symbols()), Counter(bulk.get_chemical_symbols())
    ratios = {e: cs[e] / cb[e] for e in cb}
    if set(cs) != set(cb) or max(ratios.values()) - min(ratios.values()) > 1e-9:
        raise StructureError(
            f"properties: the slab's composition {dict(cs)} is no multiple of the surface reference bulk's "
            f"{dict(cb)}: set properties.surface_bulk to a bulk structure of the slab's composition, or leave "
            f"`{SURFACE}` out of properties.include")
    return next(iter(ratios.values()))


def slab_tasks(slab: Atoms, bulk: Atoms) -> list[Atoms]:
    formula_units(slab, bulk)
    return [tag(bulk.copy(), SLAB_BULK), tag(slab.copy(), SLAB, relax=True)]


def slab_analyze(results: dict[str, Atoms]) -> dict[str, float]:
    bulk, slab = results[SLAB_BULK], results[SLAB]
    units_in_slab = formula_units(slab, bulk)
    a, b = (slab.cell[k] for k in range(3) if slab.pbc[k])
    area = float(np.linalg.norm(np.cross(a, b)))
    gamma = (slab.get_potential_energy() - units_in_slab * bulk.get_potential_energy()) / (2 * area)
    return {"surface_energy": gamma * EV_PER_A2_TO_J_PER_M2}
