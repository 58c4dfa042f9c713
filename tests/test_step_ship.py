"""shipping/ and steps/ship.py: the final fit ships only once it passes the loop's end criteria
itself; else the loop's potential ships and every output says which and why."""

from __future__ import annotations

import pytest

from mlip_autopipec.domain_models.records import TrainRecord
from mlip_autopipec.domain_models.state import MdStabilitySummary, SpotCheckResult
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
    return MdStabilitySummary(max_gamma=max_gamma, steps_run=steps_run, steps=300, exploded=exploded)


def _ladder(keep_best: dict) -> dict:
    """A train.json `fit.ladder` with one rung and the given keep-the-best comparison."""
    return {"chosen_rung": 0, "functions_per_element": {"Cu": 10}, "rung": {}, "n_holdout": 3, "n_fit": 12,
            "environments_per_element": {"Cu": 400}, "holdout": None,
            "rungs": [{"index": 0, "functions_per_element": {"Cu": 10}, "allowed": True}],
            "keep_best": keep_best, "holdout_fit": None}


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
    kept = _record(fit={"ladder": _ladder({"kept_previous": True, "previous_stage": "iter_002",
                                           "previous_score": 0.0020, "score": 0.0025})})
    kind, why = final_fit_outcome(kept)
    assert kind == "kept_earlier" and "iter_002" in why
    assert final_fit_outcome(_record(fit={"ladder": _ladder({"kept_previous": False})})) is None
    d = decide_ship("iter_002", "final_fit", failed, None, None, None)
    assert d.shipped_stage == "iter_002" and d.final_fit == "failed" and "singular design matrix" in d.reason


# --- the fallback path on a finished mock run (tests/configs/mock.yaml) -------------------------------
def test_failed_final_fit_ships_the_loop_potential_and_every_output_says_so(finished_mock_run, tmp_path):
    """A final fit whose fit raises (mock trainer: `fail_generations`) keeps the loop's potential;
    the ship check then ships the loop's potential, scored on fresh spot checks labelled by the mock
    oracle, and the status table, the state and final/README.txt say which potential and why."""
    from conftest import copy_run, mock_config

    from mlip_autopipec.core import layout as L
    from mlip_autopipec.core.io import read_json, read_structures, write_json
    from mlip_autopipec.loop.state import derive_state
    from mlip_autopipec.domain_models.state import Action, Decision
    from mlip_autopipec.report.table import format_status
    from mlip_autopipec.steps.final import run_final
    from mlip_autopipec.steps.label import run_gather_labels, run_label_chunk
    from mlip_autopipec.steps.ship import run_final_check_frames, run_ship
    from mlip_autopipec.steps.train import run_train

    run = copy_run(finished_mock_run[0], tmp_path / "run")
    state = derive_state(run)
    last = state.history[-1]
    loop_stage = last.potential_in.split("/")[0]
    loop_generation = read_json(run / loop_stage / "potential.yace")["generation"]
    rcfg = mock_config(run, trainer={"kind": "mock", "fail_generations": [loop_generation + 1]},
                       convergence={"spot_checks": 2})
    labels = [str(run / L.labels(s)) for s in L.stages_up_to(loop_stage)]

    record = run_train(rcfg, L.FINAL_FIT, labels, str(run / L.REFERENCE_ENERGIES), str(run / L.FINAL_FIT),
                       str(run / loop_stage), None, str(run / L.train_record(L.FINAL_FIT)))
    assert record.kept_previous and "diverged" in record.error

    samples = [str(p) for p in sorted((run / L.iter_dir(last.iteration) / "explore").glob("*.samples.extxyz"))]
    assert run_final_check_frames(rcfg, samples, str(run / L.selected(L.FINAL_CHECK))) == 2
    job = run / L.FINAL_CHECK / "label_jobs"
    run_label_chunk(rcfg, L.FINAL_CHECK, str(run / L.selected(L.FINAL_CHECK)), 0, 2, str(job / "0.extxyz"),
                    str(job / "0.json"), str(run / L.label_cache(L.FINAL_CHECK)))
    run_gather_labels(L.FINAL_CHECK, [str(job / "0.extxyz")], [str(job / "0.json")],
                      str(run / L.labels(L.FINAL_CHECK)), str(run / L.labels_failed(L.FINAL_CHECK)))
    fresh = read_structures(run / L.labels(L.FINAL_CHECK))
    trained = {a.info.get("label_hash") for f in labels for a in read_structures(f)}
    assert len(fresh) == 2 and not {a.info.get("label_hash") for a in fresh} & trained

    ship = run_ship(rcfg, str(run / loop_stage), str(run / L.FINAL_FIT), str(run / L.train_record(L.FINAL_FIT)),
                    str(run / L.labels(L.FINAL_CHECK)), None, None, str(run / L.SHIP_DECISION),
                    loop_record=str(run / L.train_record(loop_stage)))
    assert ship.shipped_stage == loop_stage and ship.final_fit == "failed"
    check = ship.check_of(loop_stage)
    assert check.spot_check.n_structures == 2 and ship.check_of(L.FINAL_FIT) is None

    state = derive_state(run)
    assert state.current_potential == f"{loop_stage}/potential.yace"
    assert state.shipped.stage == loop_stage and state.final_fit.outcome == "failed"
    text = format_status(state, workdir=run, rcfg=rcfg)
    row = next(line for line in text.splitlines() if line.startswith("final fit"))
    assert "failed, kept earlier" in row
    assert f"shipped: {loop_stage}/potential.yace: the final fit failed (mock fit of generation" in text
    assert f"spot checks of {loop_stage}/ (2 frames" in text

    decision = Decision(iteration=last.iteration, action=Action.CONVERGED, reason="ran through", progress=1.0)
    write_json(tmp_path / "decision.json", decision.model_dump(mode="json"))
    out = {k: str(tmp_path / "final" / f) for k, f in (
        ("yace", "potential.yace"), ("yaml", "potential.yaml"), ("asi", "potential.asi"),
        ("dataset", "dataset.extxyz"), ("dataframe", "dataset.pkl.gz"), ("lammps", "lammps/in.pace"),
        ("report", "report.html"), ("readme", "README.txt"))}
    (tmp_path / "report.html").write_text("<html/>")
    potential = [str(run / loop_stage / f"potential.{e}") for e in ("yace", "yaml", "asi")]
    run_final(str(tmp_path / "decision.json"), potential, labels, str(run / L.REFERENCE_ENERGIES),
              str(tmp_path / "report.html"), (2.0, 5.0, 10), out, workdir=str(run))
    readme = (tmp_path / "final" / "README.txt").read_text()
    assert f"shipped: {loop_stage}/potential.yace: the final fit failed" in readme
    assert f"the last good potential ({loop_stage}/)" in readme
