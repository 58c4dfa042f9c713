"""Surface energies of the low-index fcc facets from relaxed symmetric slabs.

γ = (E_slab − N · e_bulk) / 2A with e_bulk the energy per atom of the bulk crystal at the same
lattice constant as the slab, so the potential and the oracle see identical slabs and the bulk
term cancels exactly the strain both would otherwise carry.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import fcc100, fcc110, fcc111

from . import EV_PER_A2_TO_J_PER_M2, tag

BULK = "surface/bulk"
FACETS = {"111": fcc111, "100": fcc100, "110": fcc110}


def tasks(element: str, a: float, primitive: Atoms, layers: int, vacuum: float) -> list[Atoms]:
    out = [tag(primitive.copy(), BULK)]
    for facet, build in FACETS.items():
        slab = build(element, size=(1, 1, layers), a=a, vacuum=vacuum, periodic=True)
        out.append(tag(slab, f"surface/{facet}", relax=True))
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
