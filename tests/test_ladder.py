"""The shared ladder skeleton (components/trainers/ladder.py) with a fake per-rung fit.

The fake's rungs have scores set by hand, so the pick rule, the fall-back, keep-the-best and the
record are checked against values worked out here, not by the code under test. The frames are
two-atom Cu cells (their geometry does not matter: only their atoms are counted); the held-out mask
is given explicitly (first 3 of 10 frames), so 7 fitted frames carry 14 Cu environments.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from mlip_autopipec.components.trainers.ladder import NOT_COMPARABLE, Ladder, PreviousScore
from mlip_autopipec.domain_models.records import HoldoutStandIn, LadderRecord, LadderRung
from mlip_autopipec.scoring.fit_weights import WeightedErrors

N_FRAMES, N_HELD = 10, 3
HELD = np.array([True] * N_HELD + [False] * (N_FRAMES - N_HELD))
# (index, functions per element): with 14 environments and 2 per function, 2, 5 and 7 are allowed, 10 is not
CANDIDATES = [(0, {"Cu": 2}), (1, {"Cu": 5}), (2, {"Cu": 7}), (3, {"Cu": 10})]
SCORES = [0.30, 0.10, 0.10, 0.05]  # rung 3 would win if it were allowed; 1 and 2 tie


def frames() -> list[Atoms]:
    return [Atoms("Cu2", positions=[[0, 0, 0], [0, 0, 2.5 + 0.01 * i]], cell=[10, 10, 10], pbc=True)
            for i in range(N_FRAMES)]


def uniform_errors(score: float, n: int = N_HELD) -> WeightedErrors:
    """Per-structure errors whose score is `score` on every bootstrap sample: no energy rows, one
    force component per structure with squared error score**2."""
    return WeightedErrors(energy_error=np.zeros(n), energy_weight=np.zeros(n), force_sse=np.full(n, score ** 2),
                          force_weight=np.ones(n))


def errors_dict(score: float) -> dict:
    return {"energy_rmse_per_atom": None, "force_rmse": score, "score": score, "n_structures": N_HELD,
            "n_energy_labels": 0, "pressure_rmse_gpa": None}


class FakeLadder(Ladder):
    def __init__(self, envs_per_function=2.0, held=HELD, previous_score=0.2, previous_size=20, comparable=True):
        super().__init__(frames(), holdout_share=0.3, envs_per_function=envs_per_function, held=held)
        self.previous_score, self.previous_size, self.comparable = previous_score, previous_size, comparable
        self.fitted: list[int] = []

    def fit_rung(self, pos):
        self.fitted.append(pos)
        return errors_dict(SCORES[pos])

    def rung_structure_errors(self, pos):
        return uniform_errors(SCORES[pos])

    def rung_description(self, pos):
        return {"n": CANDIDATES[pos][1]["Cu"]}

    def stand_in(self, pos, entry):
        return None if entry.score is None else HoldoutStandIn(rung={"n": CANDIDATES[pos][1]["Cu"]},
                                                               score=entry.score, stage="iter_002")

    def score_previous(self, previous):
        if not self.comparable:
            return None
        return PreviousScore(errors=errors_dict(self.previous_score),
                             structure_errors=uniform_errors(self.previous_score), size=self.previous_size)


PREVIOUS = HoldoutStandIn(rung={"n": 20}, score=0.01, stage="iter_001", coefficients=[1.0, 2.0])


def test_the_lowest_allowed_score_wins_ties_go_to_the_smaller_rung_and_the_record_says_so():
    ladder = FakeLadder()
    choice = ladder.choose(CANDIDATES, previous=None, keep_best=True)
    assert ladder.fitted == [0, 1, 2]  # the rung without enough environments is never fitted
    assert choice.chosen == 1 and not choice.keep_previous
    rec = choice.record
    assert isinstance(rec, LadderRecord)
    assert (rec.chosen_rung, rec.functions_per_element, rec.rung) == (1, {"Cu": 5}, {"n": 5})
    assert (rec.n_holdout, rec.n_fit, rec.environments_per_element) == (3, 7, {"Cu": 14})
    assert [r.score for r in rec.rungs] == [0.30, 0.10, 0.10, None]
    assert [r.allowed for r in rec.rungs] == [True, True, True, False]
    assert rec.rungs[3].reason == "too few atomic environments: Cu 14 < 2 x 10"
    assert rec.holdout.score == 0.10 and rec.rungs[3].holdout is None
    assert rec.selection is None and rec.keep_best is None
    assert rec.holdout_fit == HoldoutStandIn(rung={"n": 5}, score=0.10, stage="iter_002")


def test_larger_within_se_takes_the_largest_rung_within_the_noise():
    # uniform per-structure errors: every bootstrap sample has the same score, so the standard
    # error is 0 and only an exact tie is "within": rungs 1 and 2, of which 2 is larger
    choice = FakeLadder().choose(CANDIDATES, previous=None, keep_best=True, larger_within_se=1.0)
    assert choice.chosen == 2
    sel = choice.record.selection
    assert sel.lowest_score_rung == 1
    assert set(sel.rungs) == {"0", "1", "2"}
    assert sel.rungs["0"].excess == pytest.approx(0.20) and sel.rungs["0"].standard_error == pytest.approx(0.0)
    assert sel.rungs["2"].excess == pytest.approx(0.0)


def test_no_allowed_rung_falls_back_to_the_smallest_and_keeps_nothing():
    ladder = FakeLadder(envs_per_function=100.0)  # 14 environments < 100 x 2
    choice = ladder.choose(CANDIDATES, previous=PREVIOUS, keep_best=True)
    assert ladder.fitted == []
    assert choice.chosen == 0 and not choice.keep_previous
    rec = choice.record
    assert rec.holdout is None and rec.keep_best is None and rec.holdout_fit is None  # nothing was scored
    assert all(not r.allowed for r in rec.rungs)


def test_a_better_earlier_stand_in_is_kept_and_recorded():
    choice = FakeLadder(previous_score=0.04).choose(CANDIDATES, previous=PREVIOUS, keep_best=True)
    assert choice.chosen == 1 and choice.keep_previous
    kb = choice.record.keep_best
    assert (kb.kept_previous, kb.previous_stage, kb.previous_score, kb.score) == (True, "iter_001", 0.04, 0.10)
    assert choice.record.holdout_fit == PREVIOUS  # the best stand-in so far is the earlier one


def test_a_worse_earlier_stand_in_is_replaced():
    choice = FakeLadder(previous_score=0.2).choose(CANDIDATES, previous=PREVIOUS, keep_best=True)
    assert not choice.keep_previous
    assert choice.record.keep_best.kept_previous is False
    assert choice.record.holdout_fit.stage == "iter_002"


def test_within_se_the_larger_earlier_fit_wins_a_tie():
    # a plain comparison keeps the earlier fit only if it scores lower (0.10 < 0.10: no); by the
    # rule between rungs the larger of the two (20 > 5 functions) wins a tie
    choice = FakeLadder(previous_score=0.10, previous_size=20).choose(CANDIDATES[:2], previous=PREVIOUS,
                                                                      keep_best=True, larger_within_se=1.0)
    assert choice.chosen == 1 and choice.keep_previous
    assert choice.record.keep_best.standard_error == pytest.approx(0.0)
    smaller = FakeLadder(previous_score=0.10, previous_size=3).choose(CANDIDATES[:2], previous=PREVIOUS,
                                                                      keep_best=True, larger_within_se=1.0)
    assert not smaller.keep_previous


def test_an_earlier_stand_in_of_another_basis_is_noted_not_compared():
    choice = FakeLadder(comparable=False).choose(CANDIDATES, previous=PREVIOUS, keep_best=True)
    assert choice.record.keep_best.note == NOT_COMPARABLE
    assert not choice.keep_previous and choice.record.holdout_fit.stage == "iter_002"


def test_keep_best_off_or_nothing_held_out_compares_nothing():
    off = FakeLadder(previous_score=0.01).choose(CANDIDATES, previous=PREVIOUS, keep_best=False)
    assert off.record.keep_best is None and not off.keep_previous
    none_held = FakeLadder(previous_score=0.01, held=np.zeros(N_FRAMES, dtype=bool))
    choice = none_held.choose(CANDIDATES, previous=PREVIOUS, keep_best=True)
    assert choice.record.keep_best is None and not choice.keep_previous
    # scored on the fitted labels: all 10 frames, 20 environments, so rung 3 (10 functions) is allowed
    assert (choice.record.n_holdout, choice.record.n_fit) == (0, N_FRAMES)
    assert none_held.score_on.all() and choice.chosen == 3


def test_a_record_written_before_the_model_still_reads():
    # `holdout: {}` was the dict records' "not scored"
    old = {"chosen_rung": 0, "functions_per_element": {"Cu": 2}, "rung": {}, "n_holdout": 0, "n_fit": 2,
           "environments_per_element": {"Cu": 4}, "holdout": {}, "selection": None, "keep_best": None,
           "holdout_fit": None,
           "rungs": [{"index": 0, "functions_per_element": {"Cu": 2}, "allowed": False, "reason": "x",
                      "score": None, "holdout": {}}]}
    rec = LadderRecord.model_validate(old)
    assert rec.holdout is None and rec.rungs[0].holdout is None


def test_held_out_errors_of_records_before_the_fit_weighted_score_still_read():
    old = {"energy_rmse_per_atom": 0.001, "force_rmse": 0.02, "pressure_rmse_gpa": None}
    rung = LadderRung.model_validate({"index": 1, "functions_per_element": {"Cu": 5}, "allowed": True,
                                      "score": 0.02, "holdout": old})
    assert rung.holdout.force_rmse == 0.02 and rung.holdout.score is None


def test_rows_per_function_allows_rungs_by_the_fitted_rows():
    """A molecule's rule: 7 fitted two-atom frames have 7 x (3 x 2 + 1) = 49 rows; at 2 rows per
    function 24 functions are allowed (2, 5, 7, 10 all are), at 5 rows per function 9 (2, 5, 7)."""
    class RowsLadder(FakeLadder):
        def __init__(self, rows_per_function):
            Ladder.__init__(self, frames(), holdout_share=0.3, envs_per_function=100.0, held=HELD,
                            rows_per_function=rows_per_function)
            self.previous_score, self.previous_size, self.comparable = 0.2, 20, True
            self.fitted = []

    two = RowsLadder(2.0)
    assert two.rows == 49
    choice = two.choose(CANDIDATES, previous=None, keep_best=False)
    assert [r.allowed for r in choice.record.rungs] == [True, True, True, True] and choice.chosen == 3
    five = RowsLadder(5.0).choose(CANDIDATES, previous=None, keep_best=False)
    assert [r.allowed for r in five.record.rungs] == [True, True, True, False]
    assert five.record.rungs[3].reason == "too few fitted rows (force components + energies): 49 < 5 x 10 functions"
