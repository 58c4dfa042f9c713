"""A ZBL core repulsion below the shortest training distance, the way pacemaker's
`repulsion: auto` does it.

A linear ACE potential has no reason to be repulsive where it has never seen data: a hot MD burst
can pull two atoms closer than any training pair, where the fitted functions may even attract.
pyace's inner cutoff replaces the ACE pair region below `r_in` (per bond: 0.9 x the shortest distance
in the training data) by the universal ZBL screened-Coulomb repulsion, blended over `dr_in`. Above
`r_in` nothing changes, so the fit and its training errors are untouched.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import Atoms

from ...core.periodicity import ace_view
from ..ace.common import preserve_root_logging

with preserve_root_logging():
    from pyace.atomicenvironment import aseatoms_to_atomicenvironment
    from pyace.generalfit import setup_zbl_inner_core_repulsion

SEARCH_RADIUS = 4.0  # Å: the nearest neighbours of any condensed structure are closer than this
DR_IN = 0.1  # Å, pacemaker's default blending width
# r_in = this x the shortest training distance. pacemaker's `auto` uses the distance itself; with the
# few dozen labels of an active-learning start, hot MD and swarm candidates come a little closer than
# any training pair (measured in the default Cu run: a candidate inside r_in got ~24 eV/Å of ZBL
# force), so the wall starts 10 % further in, where only real collisions go.
INNER_FRACTION = 0.9


def min_distance_per_bond(frames: Sequence[Atoms], elements: Sequence[str]) -> dict[tuple[int, int], float]:
    """{(mu_i, mu_j): shortest distance} over `frames`, indices into sorted `elements`; a bond the
    data never shows gets the shortest distance of all.

    pyace's C++ neighbour search, not ASE's: over a few dozen training frames ASE's Python neighbour
    list cost ~80 ms per frame at this radius, a noticeable share of every fit."""
    index = {el: k for k, el in enumerate(sorted(elements))}
    found: dict[tuple[int, int], float] = {}
    for atoms in frames:
        ae = aseatoms_to_atomicenvironment(ace_view(atoms), cutoff=SEARCH_RADIUS, elements_mapper_dict=index)
        for (x, y), d in ae.get_minimal_nn_distance_per_bond().items():
            a, b = min(x, y), max(x, y)
            found[(a, b)] = min(found.get((a, b), np.inf), float(d))
    overall = min(found.values(), default=SEARCH_RADIUS)
    n = len(index)
    out = {}
    for a in range(n):
        for b in range(a, n):
            out[(a, b)] = out[(b, a)] = found.get((a, b), overall)
    return out


def add_zbl_core_repulsion(bconf, frames: Sequence[Atoms], elements: Sequence[str]) -> dict:
    """Set ZBL inner cutoffs on the fitted B-basis configuration in place; returns r_in per bond."""
    r_in = min_distance_per_bond(frames, elements)
    r_in = {bond: INNER_FRACTION * d for bond, d in r_in.items()}
    setup_zbl_inner_core_repulsion(bconf, r_in, dr_in=DR_IN)
    names = sorted(elements)
    return {f"{names[a]}-{names[b]}": round(v, 4) for (a, b), v in r_in.items() if a <= b}
