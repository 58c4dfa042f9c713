"""shipping/ and steps/ship.py: the final fit ships only once it passes the loop's end criteria
itself; else the loop's potential ships and every output says which and why."""

from __future__ import annotations

import pytest

from mlip_autopipec.domain_models.records import TrainRecord
from mlip_autopipec.domain_models.state import SpotCheckResult
from mlip_autopipec.shipping.gamma_scale import gamma_scale
from mlip_autopipec.shipping.verdict import check_potential, decide_ship, final_fit_outcome


def test_gamma_scale_is_the_ratio_of_the_largest_gammas_on_accepted_frames():
    # loop gammas 1.0, 2.0, 4.0 (accepted, <= 5); the final fit's 3.0, 5.0, 10.0 -> 10 / 4 = 2.5
    pairs = [(1.0, 3.0), (2.0, 5.0), (4.0, 10.0), (7.0, 40.0)]  # 7.0 > gamma_halt: not accepted
    s = gamma_scale(pairs, gamma_halt=5.0, md_max_gamma=6.0, stage="final_fit", reference_stage="iter_002")
    assert s.n_frames == 3
    assert s.reference_max_gamma == 4.0 and s.max_gamma == 10.0
    assert s.scale == pytest.approx(2.5)
    assert s.gamma_threshold == pytest.approx(12.5) and s.md_max_gamma == pytest.approx(15.0)
    assert "iter_002" in s.reason and "2.5" in s.reason


def test_gamma_scale_never_below_the_loops_thresholds_and_without_frames_unchanged():
    lower = gamma_scale([(2.0, 1.0), (4.0, 2.0)], 5.0, 5.0, "final_fit", "iter_001")
    assert lower.scale == 1.0 and lower.gamma_threshold == 5.0 and lower.md_max_gamma == 5.0
    empty = gamma_scale([(float("nan"), 2.0), (9.0, 20.0)], 5.0, 5.0, "final_fit", "iter_001")
    assert empty.n_frames == 0 and empty.scale == 1.0 and "unchanged" in empty.reason


def _spot(f, e, passed):
    return SpotCheckResult(iteration=-1, n_structures=4, force_rmse=f, energy_rmse_per_atom=e,
                           force_tolerance=0.003, energy_tolerance=0.001, passed=passed)


def _md(max_gamma, steps_run=300, exploded=None):
    return {"max_gamma": max_gamma, "steps_run": steps_run, "steps": 300, "exploded": exploded}


def _record(**kw):
    return TrainRecord(stage="final_fit", n_structures=60, trainer="linear_ace", **kw)


def test_a_final_fit_that_passes_ships():
    final = check_potential("final_fit", 800, _spot(0.0015, 0.0001, True), [], _md(9.0), 12.5)
    loop = check_potential("iter_002", 300, _spot(0.0016, 0.0001, True), [], None, 5.0)
    d = decide_ship("iter_002", "final_fit", _record(fit={"n_functions": 800}), final, loop, None)
    assert d.shipped_stage == "final_fit" and d.final_fit == "shipped"
    assert "9" in d.reason and "12.5" in d.reason


def test_md_gamma_above_the_bound_rejects_the_final_fit():
    final = check_potential("final_fit", 800, _spot(0.0015, 0.0001, True), [], _md(12.3), 5.0)
    assert final.failures == ["MD stability max gamma 12.3 > 5"]
    d = decide_ship("iter_002", "final_fit", _record(fit={}), final, None, None)
    assert d.shipped_stage == "iter_002" and d.final_fit == "rejected"
    assert "12.3 > 5" in d.reason and "iter_002/ ships" in d.reason


def test_failed_spot_checks_or_a_broken_md_run_reject_the_final_fit():
    spot = check_potential("final_fit", 800, _spot(0.004, 0.0001, False), [], _md(2.0), 5.0)
    assert len(spot.failures) == 1 and "4.00 meV/Å" in spot.failures[0]
    broken = check_potential("final_fit", 800, None, [], _md(2.0, steps_run=120, exploded="non-finite energy"), 5.0)
    assert broken.failures == ["MD stability broke off at step 120 of 300 (non-finite energy)"]


def test_final_fit_outcome_from_its_record():
    failed = _record(kept_previous=True, error="singular design matrix")
    assert final_fit_outcome(failed) == ("failed", "the final fit failed (singular design matrix)")
    kept = _record(fit={"ladder": {"keep_best": {"kept_previous": True, "previous_stage": "iter_002",
                                                 "previous_score": 0.0020, "score": 0.0025}}})
    kind, why = final_fit_outcome(kept)
    assert kind == "kept_earlier" and "iter_002" in why
    assert final_fit_outcome(_record(fit={"ladder": {"keep_best": {"kept_previous": False}}})) is None
    d = decide_ship("iter_002", "final_fit", failed, None, None, None)
    assert d.shipped_stage == "iter_002" and d.final_fit == "failed" and "singular design matrix" in d.reason
