"""One basis ladder for both trainers: split, score every rung, pick, fall back, keep the best, record.

The linear ACE ladder (basis_ladder.py) and pacemaker's (pacemaker_ladder.py) differ only in how a
rung is fitted and scored: a column choice and a least-squares solve on one design matrix, or a
step of pacemaker's own ladder run evaluated with pyace. Everything around that is the same and
lives here, once (the rules themselves are holdout.py's):

* split: a fixed held-out share by structure hash (`split_holdout`); with nothing held out the
  rungs are scored on the fitted labels;
* score every rung that has enough atomic environments per function (`too_few_environments`), or
  with `rows_per_function` enough fitted rows per function (`too_few_rows`: small molecules);
* pick the lowest score, ties to the smaller basis (`pick`); with `larger_within_se`, the largest
  rung within that many bootstrap standard errors of the lowest (`pick_largest_within_se`);
* fall back to the smallest rung when none is allowed;
* keep the best: the earlier fit's held-out-share stand-in, scored on this held-out share, wins
  if it scores better (with `larger_within_se`: by the same rule as between rungs);
* the typed record (`LadderRecord`, train.json `fit.ladder`).

A trainer subclasses `Ladder` and supplies the hooks: `fit_rung` (the per-rung fit and its
held-out errors), `rung_description`, `stand_in`, `score_previous`, and, for `larger_within_se`,
`rung_structure_errors`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from ase import Atoms

from ...domain_models.records import (HoldoutErrors, HoldoutStandIn, KeepBest, LadderRecord, LadderRung,
                                      LadderSelection)
from ...scoring.fit_weights import WeightedErrors
from .holdout import (environments_per_element, fit_rows, keep_best_comparison, pick, pick_largest_within_se,
                      split_holdout, too_few_environments, too_few_rows)

log = logging.getLogger(__name__)

NOT_COMPARABLE = "earlier best fit's basis is not part of this ladder: not compared"


@dataclass
class PreviousScore:
    """The earlier stand-in on this fit's held-out share (what `score_previous` returns)."""

    errors: dict  # HoldoutErrors fields; errors["score"] decides
    structure_errors: WeightedErrors | None = None  # per held-out structure, for `larger_within_se`
    size: int | None = None  # its number of basis functions, for `larger_within_se`


@dataclass
class LadderChoice:
    """Outcome of `Ladder.choose`."""

    chosen: int  # position of the chosen rung in the candidates given
    record: LadderRecord
    keep_previous: bool  # the earlier potential scored better: ship it again


class Ladder(ABC):
    """The shared skeleton (module docstring). `what` names a candidate in the log ("rung", "step")."""

    what = "rung"
    name = "basis ladder"

    def __init__(self, frames: Sequence[Atoms], holdout_share: float, envs_per_function: float,
                 held: np.ndarray | None = None, rows_per_function: float | None = None):
        """`held`: the held-out mask; default (always, in a run) `split_holdout(frames, holdout_share)`.
        `rows_per_function`: allow rungs by the fitted rows instead of the environments (`too_few_rows`)."""
        self.frames = list(frames)
        # none held out: scored on the fitted labels
        self.held = split_holdout(self.frames, holdout_share) if held is None else np.asarray(held, dtype=bool)
        self.fit_part = ~self.held
        self.score_on = self.held if self.held.any() else self.fit_part
        self.envs = environments_per_element(self.frames, self.fit_part)
        self.envs_per_function = envs_per_function
        self.rows_per_function = rows_per_function
        self.rows = fit_rows(self.frames, self.fit_part)

    def refused(self, nfun: dict[str, int]) -> str:
        """Why a candidate of `nfun` functions per element is not allowed ("" if it is)."""
        if self.rows_per_function is not None:
            return too_few_rows(nfun, self.rows, self.rows_per_function)
        return too_few_environments(nfun, self.envs, self.envs_per_function)

    # -- hooks ----------------------------------------------------------------------------------
    @abstractmethod
    def fit_rung(self, pos: int) -> dict:
        """Fit candidate `pos` on the fitted part (`fit_part`); its errors on `score_on`
        (HoldoutErrors fields). Called once per allowed candidate, in order."""

    def rung_structure_errors(self, pos: int) -> WeightedErrors:
        """Per held-out structure errors of candidate `pos`'s fit (only with `larger_within_se`)."""
        raise NotImplementedError(f"{type(self).__name__} has no per-structure errors for larger_within_se")

    @abstractmethod
    def rung_description(self, pos: int) -> dict:
        """The record's `rung` entry of candidate `pos`."""

    @abstractmethod
    def stand_in(self, pos: int, entry: LadderRung) -> HoldoutStandIn | None:
        """The held-out-share stand-in of the chosen candidate (None if it was not fitted and scored)."""

    @abstractmethod
    def score_previous(self, previous: HoldoutStandIn) -> PreviousScore | None:
        """The earlier stand-in's errors on the held-out share; None if it cannot be compared."""

    # -- the shared logic -----------------------------------------------------------------------
    def choose(self, candidates: Sequence[tuple[int, dict[str, int]]], previous: HoldoutStandIn | None,
               keep_best: bool, larger_within_se: float | None = None) -> LadderChoice:
        """Score the candidates ((index, functions per element) in ladder order), pick one, compare
        it with the earlier stand-in `previous`, and build the record."""
        held = self.held
        rungs: list[LadderRung] = []
        for pos, (index, nfun) in enumerate(candidates):
            reason = self.refused(nfun)
            entry = LadderRung(index=index, functions_per_element=nfun, allowed=not reason, reason=reason)
            if not reason:
                errors = self.fit_rung(pos)
                entry.holdout = HoldoutErrors.model_validate(errors)
                entry.score = errors["score"]
            rungs.append(entry)
        sizes = [sum(r.functions_per_element.values()) for r in rungs]
        best = pick([r.score for r in rungs], sizes)
        selection = None
        if larger_within_se is not None and best is not None and held.any():
            per_rung = [self.rung_structure_errors(pos) if r.allowed else None for pos, r in enumerate(rungs)]
            lowest = best
            best, detail = pick_largest_within_se(per_rung, sizes, larger_within_se)
            selection = LadderSelection(
                rule=f"largest rung within {larger_within_se:g} bootstrap standard errors of the lowest score",
                lowest_score_rung=rungs[lowest].index, rungs={str(rungs[i].index): d for i, d in detail.items()})
        if best is None:
            best = min(range(len(rungs)), key=lambda i: sizes[i])
            log.warning("no ladder %s has enough atomic environments (%s); using the smallest, %s %d",
                        self.what, rungs[best].reason, self.what, rungs[best].index)
        chosen = best

        this = self.stand_in(chosen, rungs[chosen])
        comparison, keep_previous = None, False
        if keep_best and previous is not None and this is not None and held.any():
            prev = self.score_previous(previous)
            if prev is None:
                comparison = KeepBest(note=NOT_COMPARABLE)
            else:
                found = keep_best_comparison(previous.stage, prev.errors["score"], prev.errors, this.score)
                if larger_within_se is not None:
                    # the same rule as between rungs: the earlier best is one more candidate, and the
                    # larger of the two wins unless it scores worse by more than the share's noise
                    pair = [self.rung_structure_errors(chosen), prev.structure_errors]
                    winner, detail = pick_largest_within_se(pair, [sizes[chosen], prev.size], larger_within_se)
                    found["kept_previous"] = winner == 1
                    found["rule"] = f"the larger fit wins within {larger_within_se:g} bootstrap standard errors"
                    found["standard_error"] = max(d["standard_error"] for d in detail.values())
                comparison = KeepBest.model_validate(found)
                keep_previous = comparison.kept_previous
        record = LadderRecord(
            chosen_rung=rungs[chosen].index,
            functions_per_element=rungs[chosen].functions_per_element,
            rung=self.rung_description(chosen),
            n_holdout=int(held.sum()),
            n_fit=int(self.fit_part.sum()),
            environments_per_element=self.envs,
            holdout=rungs[chosen].holdout,
            rungs=rungs,
            selection=selection,
            keep_best=comparison,
            # the best held-out-share stand-in so far: this one, or the earlier one if that scored better
            holdout_fit=previous if keep_previous else this,
        )
        score = rungs[chosen].score
        log.info("%s: %s %d of %d (%s functions per element) on %d labels (%d held out), held-out score %s%s",
                 self.name, self.what, rungs[chosen].index, len(rungs), rungs[chosen].functions_per_element,
                 len(self.frames), int(held.sum()), "n/a" if score is None else f"{1e3 * score:.2f} meV/Å",
                 (f" (lowest: {self.what} {selection.lowest_score_rung}; within {larger_within_se:g} SE, the larger "
                  "wins)" if selection and selection.lowest_score_rung != rungs[chosen].index else "")
                 + ("; an earlier fit scored better: keeping it" if keep_previous else ""))
        return LadderChoice(chosen=chosen, record=record, keep_previous=keep_previous)

