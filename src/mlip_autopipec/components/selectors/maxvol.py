"""D-optimal selection of candidates to label: pace_select's MaxVol, through pyace's Python API.

For every element, the B-basis projections of all candidate atoms are stacked under the current
active set (recovered from the .asi, which stores its pseudo-inverse) and MaxVol picks the rows
of maximal volume. Candidate atoms that enter the active set are those that add most new
information; a structure is selected if at least one of its atoms entered.

Ranking (most informative first):
1. structures with more atoms entering the active set first (pace_select's own order), ties broken
   by the structure's max gamma;
2. if MaxVol picks fewer than `n` structures, the rest is filled by max gamma (descending).
The result is deterministic; `seed` is not needed.

pace_select's CLI cannot read extxyz, and `pyace.aceselect` configures the root logger on import,
so the underlying `pyace.activelearning` functions are called directly.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Sequence

import numpy as np
from ase import Atoms

from ...core.label_weights import trusted_rows_by_species
from ...core.periodicity import ace_view
from ...domain_models.config import MaxVolSelectorConfig
from ..base import PotentialFiles
from ..ace.common import (
    GAMMA_TOLERANCE,
    MAXVOL_ITERS,
    ACEBBasisSet,
    compute_A_active_inverse,
    compute_B_projections,
    maxvol_rows,
    read_active_set_inverse,
)

log = logging.getLogger(__name__)


def structure_max_gamma(proj: dict, struct_ind: dict, asi: dict, n_structures: int) -> np.ndarray:
    """Max per-atom gamma of every structure, from B-projections [n_atoms_st, n_funcs_st] and
    pinv(active set) [n_funcs_st, n_funcs_st] per species type st."""
    gmax = np.zeros(n_structures)
    for st, a0 in proj.items():
        if len(a0):
            gamma = np.abs(a0 @ asi[st]).max(axis=1)
            np.maximum.at(gmax, struct_ind[st], gamma)
    return gmax


def maxvol_entries(proj: dict, struct_ind: dict, active_set: dict) -> Counter:
    """How many atoms of each candidate structure MaxVol puts into the extended active set.

    A dilute element or a molecule's (see `ace_common.compute_active_set_inverse`) active set has
    fewer rows than basis functions: the zero rows its padded inverse gives back are dropped, and
    MaxVol runs in the row space of the stacked projections (`maxvol_rows`)."""
    counts: Counter = Counter()
    for st in proj:
        known = active_set[st][np.any(active_set[st] != 0.0, axis=1)]
        stacked = np.vstack([proj[st], known])
        ind = np.concatenate([struct_ind[st], -np.ones(len(known), dtype=int)])
        counts.update(int(i) for i in ind[maxvol_rows(stacked)])
    counts.pop(-1, None)  # rows of the existing active set
    return counts


def in_turn(order: list[int], sources: Sequence) -> list[int]:
    """`order` re-ranked one source at a time: the first of every source (sources by their first
    appearance), then the second of every source, and so on; each source keeps its own order."""
    queues: dict = {}
    for i in order:
        queues.setdefault(sources[i], []).append(i)
    out: list[int] = []
    for depth in range(max((len(q) for q in queues.values()), default=0)):
        out.extend(q[depth] for q in queues.values() if depth < len(q))
    return out


def rank_candidates(counts: Counter, gmax: np.ndarray, n: int, sources: Sequence | None = None) -> list[int]:
    """MaxVol-selected structures (more entering atoms first, then higher gamma; with `sources`, taken
    one source in turn), then the rest by gamma; at most n distinct indices."""
    chosen = sorted(counts, key=lambda i: (-counts[i], -gmax[i], i))
    if sources is not None:
        chosen = in_turn(chosen, sources)
    rest = sorted(set(range(len(gmax))) - set(chosen), key=lambda i: (-gmax[i], i))
    return [int(i) for i in (chosen + rest)[:n]]


def condition_sources(candidates: Sequence[Atoms]) -> list:
    """The exploration condition each candidate came from (`info['condition']`, set by REFINE); a
    candidate without one is its own source."""
    return [a.info.get("condition", ("own", k)) for k, a in enumerate(candidates)]


class MaxVolSelector:
    """`Selector` by D-optimality (see module docstring)."""

    def __init__(self, cfg: MaxVolSelectorConfig):
        self.cfg = cfg

    def select(self, candidates: Sequence[Atoms], potential: PotentialFiles, n: int, seed: int) -> list[int]:
        if n <= 0 or len(candidates) == 0:
            return []
        bbasis = ACEBBasisSet(str(potential.yaml))
        unknown = sorted({s for a in candidates for s in a.get_chemical_symbols()} - set(bbasis.elements_name))
        if unknown:
            raise ValueError(f"candidates contain element(s) {unknown} not in potential {potential.yaml}")
        asi = read_active_set_inverse(potential.asi, bbasis)

        proj, struct_ind = compute_B_projections(bbasis, [ace_view(a) for a in candidates],
                                                 return_structure_ind_dict=True)
        # cut-outs: rank by the core environments they add, not by their cut boundary
        trusted = trusted_rows_by_species(candidates, bbasis.elements_to_index_map)
        if trusted is not None:
            proj = {st: a0[trusted[st]] for st, a0 in proj.items()}
            struct_ind = {st: ind[trusted[st]] for st, ind in struct_ind.items()}
        gmax = structure_max_gamma(proj, struct_ind, asi, len(candidates))
        counts = maxvol_entries(proj, struct_ind, compute_A_active_inverse(asi))
        picked = rank_candidates(counts, gmax, n, condition_sources(candidates) if self.cfg.spread else None)
        log.info("MaxVol: %d of %d candidates enter the active set; picked %s (max gamma %s)",
                 len(counts), len(candidates), picked, np.round(gmax[picked], 2).tolist())
        return picked
