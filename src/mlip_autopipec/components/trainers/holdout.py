"""The held-out share both basis ladders choose by (linear: basis_ladder; pacemaker: pacemaker_ladder).

One source of truth for the rules the two trainers share, so a linear and a pacemaker run choose
their basis size the same way:

* which labels are held out: a fixed share chosen by a hash of each structure's content, so a
  structure stays held out in every later iteration (the validation set is never used);
* when too few labels exist to hold any out (all or none land in the share), nothing is held out
  and the candidates are scored on the fitted labels instead;
* which sizes are allowed: each element needs `envs_per_function` atomic environments per basis
  function in the fitted part; or, with `rows_per_function` (a small molecule, whose rarest element
  has one environment per label), the fitted part needs that many rows (force components and
  energies) per function of the whole basis (`too_few_rows`);
* one score per candidate, with the fit's own row weights on the rows the fit trusts
  (scoring/fit_weights.py: a cut-out's energy and boundary forces do not count, each structure's
  energy counts once with the fit's energy weight); the lowest wins, ties go to the smaller basis; opt-in for linear ACE (`larger_within_se`), the largest candidate whose score is within that
  many bootstrap standard errors of the lowest wins instead (`pick_largest_within_se`);
* keep the best: the earlier potential's held-out-share stand-in is kept if it scores better on
  this fit's held-out share (linear ACE with `larger_within_se`: if it wins by that rule, the
  earlier best being one more candidate, so a larger fit within the share's noise replaces it).
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
from ase import Atoms

from ...domain_models.records import HoldoutStandIn
from ...scoring.fit_weights import WeightedErrors



def holdout_mask(frames: Sequence[Atoms], share: float) -> np.ndarray:
    """True for structures in the held-out share: a hash of numbers, cell and positions (rounded
    to 1e-6 Å), so a structure's membership never changes as the data set grows."""
    mask = np.zeros(len(frames), dtype=bool)
    if share <= 0:
        return mask
    for i, atoms in enumerate(frames):
        h = hashlib.sha256()
        h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
        h.update(np.round(np.asarray(atoms.cell), 6).tobytes())
        h.update(np.round(atoms.positions, 6).tobytes())
        mask[i] = int.from_bytes(h.digest()[:8], "little") / 2.0**64 < share
    return mask


def split_holdout(frames: Sequence[Atoms], share: float) -> np.ndarray:
    """The held-out mask actually used: `holdout_mask`, or nothing held out when the share would
    take every label, or none although a share was asked for (too few labels to hold any out)."""
    held = holdout_mask(frames, share)
    if held.all() or (share > 0 and held.sum() == 0):
        return np.zeros(len(frames), dtype=bool)
    return held


def environments_per_element(frames: Sequence[Atoms], mask: np.ndarray) -> dict[str, int]:
    """Atomic environments per element in the structures selected by `mask`."""
    counts: dict[str, int] = {}
    for atoms, m in zip(frames, mask):
        if m:
            for s in atoms.get_chemical_symbols():
                counts[s] = counts.get(s, 0) + 1
    return counts


def too_few_environments(functions_per_element: dict[str, int], envs: dict[str, int],
                         envs_per_function: float) -> str:
    """Why a basis of this size is not allowed on these environments ("" if it is)."""
    short = {el: (envs.get(el, 0), n) for el, n in functions_per_element.items()
             if envs.get(el, 0) < envs_per_function * n}
    if not short:
        return ""
    return "too few atomic environments: " + ", ".join(
        f"{el} {have} < {envs_per_function:g} x {n}" for el, (have, n) in sorted(short.items()))


def fit_rows(frames: Sequence[Atoms], mask: np.ndarray) -> int:
    """Rows the fit has in the structures selected by `mask`: 3 force components per atom and one
    energy per structure."""
    return int(sum(3 * len(atoms) + 1 for atoms, m in zip(frames, mask) if m))


def too_few_rows(functions_per_element: dict[str, int], rows: int, rows_per_function: float) -> str:
    """Why a basis of this size is not allowed on `rows` fitted rows ("" if it is).

    Why rows and not environments for a molecule: CH4's carbon has one environment per label, so
    the environment rule (2 per function) allows 50 functions only after 125 labels (80 % fitted),
    while each label constrains all functions of both elements through its 15 force components and
    its energy: on EMT CH4, 200 functions per element fitted to 99 labels reach 6.5 meV/Å on held-out
    MD where 50 (the environment rule's) reach 26 (the molecule example's development draw,
    docs/systems.md). Its rarest element's active set then spans fewer directions than its basis:
    its own γ is not monitored until it does, its neighbours' γ is (ace/common.py)."""
    total = sum(functions_per_element.values())
    if rows >= rows_per_function * total:
        return ""
    return f"too few fitted rows (force components + energies): {rows} < {rows_per_function:g} x {total} functions"


def pick(scores: Sequence[float | None], sizes: Sequence[int]) -> int | None:
    """Index of the lowest score (None entries are not allowed), the smaller size on ties; None if
    nothing was scored."""
    scored = [i for i, s in enumerate(scores) if s is not None]
    if not scored:
        return None
    return min(scored, key=lambda i: (scores[i], sizes[i]))


def pick_largest_within_se(per_rung: Sequence[WeightedErrors | None], sizes: Sequence[int],
                           n_se: float, n_boot: int = 500, seed: int = 0) -> tuple[int | None, dict]:
    """The largest candidate whose held-out score exceeds the lowest by at most `n_se` standard
    errors of that excess (paired bootstrap over the held-out structures, fixed `seed` so the
    choice is reproducible); None if nothing was scored. Also returns, per scored candidate, its
    excess over the lowest score and the standard error (eV/Å).

    Why: with ~10-15 held-out structures the scores of neighbouring sizes differ by less than
    their noise, and the lowest one picks a size at random. The loop's labels are its most
    extrapolative structures, where a larger basis is least sure; on thermal frames the larger
    one is the better fit (benchmarks/RESULTS.md, "Training cells wider than twice the cutoff").
    A larger basis has to lose clearly on the held-out share to be refused.
    """
    scored = [i for i, e in enumerate(per_rung) if e is not None]
    if not scored:
        return None, {}
    n = len(per_rung[scored[0]])
    scores = {i: per_rung[i].score() for i in scored}
    scored = [i for i in scored if scores[i] is not None]
    if not scored:
        return None, {}
    best = min(scored, key=lambda i: (scores[i], sizes[i]))
    rng = np.random.default_rng(seed)
    samples = [rng.integers(0, n, n) for _ in range(n_boot)]

    def resampled(i):  # a sample without any trusted force component scores nan (left out)
        return np.array([np.nan if (v := per_rung[i].score(s)) is None else v for s in samples])

    base = resampled(best)
    detail = {}
    for i in scored:
        diff = resampled(i) - base
        detail[i] = {"excess": scores[i] - scores[best], "standard_error": float(np.nanstd(diff))}
    within = [i for i in scored if detail[i]["excess"] <= n_se * detail[i]["standard_error"]]
    return max(within, key=lambda i: (sizes[i], -scores[i])), detail


def keep_best_comparison(previous_stage: str | None, previous_score: float, previous_err: dict,
                         this_score: float) -> dict:
    """The train record's `keep_best` entry; `kept_previous` says whether the earlier one wins."""
    return {"previous_stage": previous_stage, "previous_score": previous_score,
            "previous_holdout": previous_err, "score": this_score,
            "kept_previous": bool(previous_score < this_score)}


def previous_holdout_fit(previous) -> HoldoutStandIn | None:
    """The `holdout_fit` the previous fit recorded (the train step hands its TrainRecord over with the
    potential); None without a previous potential, record or ladder."""
    if previous is None or previous.record is None or previous.record.fit is None:
        return None
    ladder = previous.record.fit.ladder
    return None if ladder is None else ladder.holdout_fit
