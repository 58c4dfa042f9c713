"""The typed sections of `workflow_state.json` (domain_models/state.py, domain_models/rmse.py).

The file must keep the keys the dicts before these models wrote (users and tools read it), and a
state written by the code before them must still load (a killed run resumed after an upgrade,
`mlip-runner status` of an older run). The files in tests/data/state_4fb40d8/ are NOT synthetic:
they were written by the code of commit 4fb40d8, the last one with dict sections (see the README
there for the commands); every expected value below is read from them with plain `json`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlip_autopipec.domain_models.rmse import RmseMetrics
from mlip_autopipec.domain_models.state import (Decision, DecisionSettings, FinalFitSummary, InitialSummary,
                                                IterationRecord, LabelNoiseSummary, MdStabilitySummary,
                                                ShippedSummary, Status, WorkflowState)

OLD = Path(__file__).resolve().parent / "data" / "state_4fb40d8"
SECTIONS = ("initial", "final_fit", "shipped", "label_noise")


def old_state(name: str) -> dict:
    return json.loads((OLD / name).read_text())


def key_paths(value, prefix="") -> list[str]:
    """Every key of a JSON value, nested, in file order."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in [f"{prefix}.{k}", *key_paths(v, f"{prefix}.{k}")]]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in key_paths(v, f"{prefix}[{i}]")]
    return []


@pytest.mark.parametrize("name", ["default_cu_converged.json", "mock_converged.json", "default_cu_initializing.json",
                                  "mock_label_noise_stopped.json"])
def test_a_state_written_by_the_dict_code_loads_and_writes_the_same_keys_and_values(name):
    raw = old_state(name)
    dumped = WorkflowState.model_validate(raw).model_dump(mode="json")
    assert key_paths(dumped) == key_paths(raw)
    assert dumped == raw


def test_the_sections_read_by_attribute_hold_the_files_values():
    raw = old_state("default_cu_converged.json")
    state = WorkflowState.model_validate(raw)
    assert isinstance(state.initial, InitialSummary) and isinstance(state.final_fit, FinalFitSummary)
    assert state.initial.n_labelled == raw["initial"]["n_labelled"]
    assert state.initial.validation.force_rmse == raw["initial"]["validation"]["force_rmse"]
    assert [h.validation.force_rmse if h.validation else None for h in state.history] == \
        [h["validation"]["force_rmse"] if h["validation"] else None for h in raw["history"]]
    assert state.final_fit.outcome == raw["final_fit"]["outcome"] == "shipped"
    assert state.final_fit.spot_check.passed is raw["final_fit"]["spot_check"]["passed"]
    shipped = state.shipped
    assert isinstance(shipped, ShippedSummary) and shipped.stage == raw["shipped"]["stage"]
    assert shipped.md_stability.max_gamma == raw["shipped"]["md_stability"]["max_gamma"]
    assert shipped.md_stability.steps_run == raw["shipped"]["md_stability"]["steps_run"]
    assert shipped.final_fit_spot_check.force_rmse == raw["shipped"]["final_fit_spot_check"]["force_rmse"]
    assert isinstance(state.label_noise, LabelNoiseSummary)
    assert state.label_noise.message == raw["label_noise"]["message"]


def test_before_the_initial_fit_its_keys_are_absent_and_a_missing_section_is_written_empty():
    raw = old_state("default_cu_initializing.json")
    assert sorted(raw["initial"]) == ["n_failed", "n_labelled", "n_selected"]  # what the dict code wrote
    state = WorkflowState.model_validate(raw)
    assert state.initial.validation is None and state.final_fit is None and state.shipped is None
    counts = InitialSummary(n_selected=3, n_labelled=None, n_failed=None)
    assert counts.model_dump() == {"n_selected": 3, "n_labelled": None, "n_failed": None}
    fitted = InitialSummary(n_selected=3, n_labelled=3, n_failed=0, validation=None, dataset_size=3, n_functions=None)
    assert list(fitted.model_dump()) == ["n_selected", "n_labelled", "n_failed", "validation", "dataset_size",
                                         "n_functions"]
    empty = WorkflowState(status=Status.INITIALIZING, iteration=0).model_dump(mode="json")
    assert [empty[s] for s in SECTIONS] == [{}, {}, {}, {}]


def test_a_run_stopped_by_noisy_labels_reads_its_check():
    raw = old_state("mock_label_noise_stopped.json")
    state = WorkflowState.model_validate(raw)
    assert state.status is Status.FAILED and raw["status"] == "FAILED"
    assert state.label_noise.stopped is True and state.label_noise.applicable is True
    assert state.label_noise.worst_setting == raw["label_noise"]["worst_setting"] == "kpoints"
    assert state.label_noise.force_rms == raw["label_noise"]["force_rms"]


def test_a_section_key_of_another_version_is_ignored_and_a_dropped_one_stays_dropped():
    raw = old_state("default_cu_converged.json")
    raw["shipped"]["verdict_of_a_later_version"] = "ok"
    del raw["label_noise"]["base_wall_time_s"]  # a check recorded before the per-label time was
    state = WorkflowState.model_validate(raw)
    assert state.label_noise.base_wall_time_s == 0.0
    dumped = state.model_dump(mode="json")
    assert "verdict_of_a_later_version" not in dumped["shipped"]
    assert "base_wall_time_s" not in dumped["label_noise"]


def test_the_md_stability_summary_has_every_key_and_leaves_the_trace_out():
    from mlip_autopipec.domain_models.property_files import MdStabilityResult

    md = MdStabilityResult.model_validate(
        {"n_atoms": 108, "temperature_K": 1200.0, "steps_run": 120, "steps": 300, "timestep_fs": 2.0,
         "exploded": "non-finite energy", "max_gamma": 2.5, "min_distance": 1.9, "max_energy_drift": 0.01,
         "mean_temperature_K": 1150.0, "trace": {"step": [0, 10], "max_gamma": [1.0, 2.5], "min_distance": [2.2, 1.9],
                                                "energy_drift": [0.0, 0.01], "temperature": [2400.0, 1100.0]}})
    summary = md.summary()
    assert summary.model_dump() == {"max_gamma": 2.5, "gamma_threshold": None, "gamma_threshold_reason": None,
                                    "exploded": "non-finite energy", "steps_run": 120, "steps": 300,
                                    "max_energy_drift": 0.01, "temperature_K": 1200.0, "n_atoms": 108}


def test_the_validation_of_an_iteration_is_the_train_records_metrics_per_kind_included():
    raw = {"energy_rmse_per_atom": 0.001, "force_rmse": 0.02, "n_structures": 12, "pressure_rmse_gpa": None,
           "by_kind": {"fcc": {"energy_rmse_per_atom": 0.002, "force_rmse": 0.03, "n_structures": 6}}}
    rec = IterationRecord.model_validate({"iteration": 1, "validation": raw})
    assert isinstance(rec.validation, RmseMetrics) and rec.validation.by_kind["fcc"].force_rmse == 0.03
    with pytest.raises(ValidationError, match="forc_rmse"):
        RmseMetrics.model_validate({**raw, "forc_rmse": 1.0})


def test_decision_settings_of_an_older_decision_load_and_a_misspelt_key_is_refused():
    old = {"max_cycles": 5, "patience": 3, "explore": {"budget": 1000}, "conditions": {"t600": {"temperature": 600}}}
    decision = Decision.model_validate({"iteration": 2, "action": "stop_max_cycles", "reason": "", "progress": 1.0,
                                        "settings": old})  # written before `convergence` was recorded
    assert isinstance(decision.settings, DecisionSettings)
    assert decision.settings.convergence is None and decision.settings.conditions["t600"]["temperature"] == 600
    with pytest.raises(ValidationError, match="max_cycle"):
        DecisionSettings.model_validate({**old, "max_cycle": 5})


def test_levels_sum_each_levels_label_job_records_and_are_absent_in_a_one_level_run(tmp_path):
    """Two-level labelling: `levels` sums the expensive label jobs and the cheap ones separately; a run with
    no cheap record has no `levels` key at all (its state file keeps its old keys)."""
    from mlip_autopipec.core import layout as L
    from mlip_autopipec.core.io import write_json
    from mlip_autopipec.domain_models.records import LabelChunkRecord, LabelFailure, record_json
    from mlip_autopipec.domain_models.state import Status, WorkflowState
    from mlip_autopipec.loop.state import label_levels

    def job(path, n, failed, t, level=None):
        fails = [LabelFailure(hash=f"h{k}", reason="x", wall_time_s=0.0, oracle="mock") for k in range(failed)]
        write_json(tmp_path / path, record_json(LabelChunkRecord(stage="s", chunk=0, indices=[], n_labelled=n,
                                                                 failures=fails, wall_time_s=t, level=level)))

    job(L.label_job("initial", 0, "json"), 2, 0, 1.5)
    job(L.label_job("iter_000", 1, "json"), 3, 1, 2.0)
    assert label_levels(tmp_path) is None
    assert "levels" not in WorkflowState(status=Status.EXPLORING, iteration=0).model_dump(mode="json")
    job(L.cheap_label_record("initial"), 7, 0, 0.25, "cheap")
    job(L.cheap_label_record("validation"), 4, 2, 0.5, "cheap")
    levels = {v.level: v for v in label_levels(tmp_path)}
    assert (levels["expensive"].n_labelled, levels["expensive"].n_failed, levels["expensive"].n_jobs) == (5, 1, 2)
    assert levels["expensive"].wall_time_s == pytest.approx(3.5)
    assert (levels["cheap"].n_labelled, levels["cheap"].n_failed, levels["cheap"].wall_time_s) == (11, 2, 0.75)
    state = WorkflowState(status=Status.EXPLORING, iteration=0, levels=list(levels.values()))
    assert [v["level"] for v in state.model_dump(mode="json")["levels"]] == ["expensive", "cheap"]
