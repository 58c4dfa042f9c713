"""Two-level labelling: which candidates the expensive oracle labels (docs/two_level_labelling.md).

Part of an iteration's expensive labels is chosen as in a one-level run (the selector: MaxVol on
gamma finds where the basis extrapolates), the rest (`two_level.disagreement_share`) by where the
current potential disagrees most with the cheap labels, which exist for every candidate and so cost
nothing: max over atoms of |F_cheap - F_potential| finds where the potential has not learnt even the
cheap level's energy surface. A candidate the cheap level failed on has no such measure and goes
first: the cheap model could not tell us anything there, the expensive oracle must.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from ase import Atoms

from ...core.identity import structure_hash
from ...core.label_weights import force_weights
from ...domain_models.two_level_config import cheap_level_trusted

GAMMA = "gamma"  # chosen by the selector
DISAGREEMENT = "disagreement"  # chosen by the cheap level's disagreement with the potential


def split_counts(n: int, share: float) -> tuple[int, int]:
    """(by the selector, by disagreement) of `n` expensive labels; the disagreement part rounds half up."""
    n_dis = min(n, int(math.floor(share * n + 0.5)))
    return n - n_dis, n_dis


def max_force_disagreement(cheap: Atoms, potential_forces: np.ndarray) -> float:
    """max over the trusted atoms (core atoms of a cut-out; label_weights) of |F_cheap - F_potential| (eV/Å)."""
    diff = np.linalg.norm(np.asarray(cheap.get_forces()) - np.asarray(potential_forces), axis=1)
    trusted = force_weights(cheap) > 0
    return float(diff[trusted].max()) if trusted.any() else 0.0


def disagreements(candidates: Sequence[Atoms], cheap_labels: Sequence[Atoms], calc) -> np.ndarray:
    """Per candidate: its max force disagreement with the potential `calc`; +inf for a candidate with no
    cheap label (the cheap level failed on it). Cheap labels are matched by structure hash (`label_hash`)."""
    cheap_by_hash = {a.info.get("label_hash"): a for a in cheap_labels}
    out = np.full(len(candidates), np.inf)
    for i, cand in enumerate(candidates):
        cheap = cheap_by_hash.get(structure_hash(cand))
        if cheap is None:
            continue
        work = cand.copy()
        work.calc = calc
        out[i] = max_force_disagreement(cheap, work.get_forces())
    return out


@dataclass
class TwoLevelPick:
    """The expensive picks in order, why each was chosen and its disagreement (eV/Å; inf: no cheap label)."""

    chosen: list[int]
    reasons: list[str]
    disagreement: np.ndarray


def pick_expensive(n_candidates: int, n: int, share: float, by_selector: Callable[[int], list[int]],
                   disagreement: np.ndarray) -> TwoLevelPick:
    """The selector's part first (`by_selector(k)`: its k picks, e.g. MaxVol on gamma), then the largest
    disagreements among the rest; when the selector returns fewer than asked, disagreement fills the gap,
    so the iteration labels min(n, n_candidates) structures. Ties in disagreement go to the lower index."""
    n = min(n, n_candidates)
    n_sel, n_dis = split_counts(n, share)
    chosen = [int(i) for i in by_selector(n_sel)] if n_sel else []
    reasons = [GAMMA] * len(chosen)
    taken = set(chosen)
    rest = sorted((i for i in range(n_candidates) if i not in taken), key=lambda i: (-disagreement[i], i))
    extra = rest[: n - len(chosen)]
    return TwoLevelPick(chosen=chosen + extra, reasons=reasons + [DISAGREEMENT] * len(extra),
                        disagreement=np.asarray(disagreement, dtype=float))


def trusted_share(share: float, cheap_only_score: float | None, expensive_only_score: float | None) -> tuple[float, str]:
    """The disagreement share an iteration uses, and why. Disagreement with the cheap labels points at the
    potential's error only where the cheap level is about as near the expensive oracle as the potential is
    (within two_level_config.TRUST_FACTOR, the rule the fit uses to trust the prior). The
    exploring potential's fit measured both on the same held-out expensive labels (train.json `two_level`:
    the cheap fit alone vs the expensive labels alone): when the cheap fit scores worse, its disagreement
    mostly maps the cheap level's own error, and every expensive label goes to the selector. Measured on
    Si/GPAW with CHGNet (benchmarks/two_level.py): the cheap fit scored 13-260x worse; with the share at
    0.5, the two-level runs ended 5.8-8.0 meV/Å against 5.7-6.8 with DFT alone on 2 of 3 test seeds."""
    if share <= 0 or cheap_only_score is None or expensive_only_score is None:
        return share, "configured"
    if not cheap_level_trusted(cheap_only_score, expensive_only_score):
        return 0.0, (f"the cheap fit scores {cheap_only_score:.3g} on the held-out expensive labels against "
                     f"{expensive_only_score:.3g} for the expensive labels alone: its disagreement with the "
                     "potential says nothing about the potential's error; all picks by the selector")
    return share, (f"the cheap fit scores {cheap_only_score:.3g} on the held-out expensive labels against "
                   f"{expensive_only_score:.3g} for the expensive labels alone")
