"""steps/gate.py called directly on hand-written exploration records (no Snakemake)."""

from __future__ import annotations

import json

from conftest import mock_config

from mlip_autopipec.core.io import write_json
from mlip_autopipec.domain_models.records import ExplorationRecord, record_json
from mlip_autopipec.domain_models.state import Action, Decision
from mlip_autopipec.steps.gate import run_gate


def record(tmp_path, name: str, halted: bool, steps: int, budget: int = 1000, **extra) -> str:
    rec = ExplorationRecord(condition=name, halted=halted, steps_run=steps, budget=budget, max_gamma=6.0 if halted else 1.0,
                            temperature=600.0, gamma_trace=[(10, 0.5), (steps, 6.0 if halted else 1.0)], **extra)
    path = tmp_path / f"{name}.json"
    write_json(path, record_json(rec))
    return str(path)


def test_a_halt_continues_the_loop_and_the_decision_is_written(tmp_path):
    rcfg = mock_config(tmp_path)
    files = [record(tmp_path, "a", True, 100), record(tmp_path, "b", False, 1000)]
    decision = run_gate(rcfg, 0, files, [], str(tmp_path / "decision.json"))
    assert decision.action is Action.CONTINUE
    assert Decision.model_validate(json.loads((tmp_path / "decision.json").read_text())) == decision
    assert [(c.condition, c.halted, c.steps_run) for c in decision.conditions] == [("a", True, 100), ("b", False, 1000)]
    assert decision.progress == (0.1 + 1.0) / 2


def test_no_halt_converges_after_reading_the_earlier_decisions(tmp_path):
    rcfg = mock_config(tmp_path)
    first = run_gate(rcfg, 0, [record(tmp_path, "a", True, 100)], [], str(tmp_path / "d0.json"))
    decision = run_gate(rcfg, 1, [record(tmp_path, "a", False, 1000)], [str(tmp_path / "d0.json")],
                        str(tmp_path / "d1.json"))
    assert (first.action, decision.action, decision.iteration) == (Action.CONTINUE, Action.CONVERGED, 1)


def test_max_cycles_stops(tmp_path):
    rcfg = mock_config(tmp_path, max_cycles=1)
    decision = run_gate(rcfg, 0, [record(tmp_path, "a", True, 100)], [], str(tmp_path / "d.json"))
    assert decision.action is Action.STOP_MAX_CYCLES


def test_an_infinite_gamma_survives_the_record_round_trip(tmp_path):
    """A blown-up trajectory has max_gamma = inf: written as JSON Infinity, read back as inf."""
    rcfg = mock_config(tmp_path)
    path = record(tmp_path, "a", True, 50)
    raw = json.loads((tmp_path / "a.json").read_text())
    raw["max_gamma"] = float("inf")
    write_json(path, raw)
    decision = run_gate(rcfg, 0, [path], [], str(tmp_path / "d.json"))
    assert decision.conditions[0].max_gamma == float("inf")


def test_the_decision_carries_the_adaptive_gamma_thresholds(tmp_path):
    from mlip_autopipec.domain_models.adaptive_gamma_config import GammaThresholds

    rcfg = mock_config(tmp_path)
    used = GammaThresholds(gamma_select=3.1, gamma_halt=7.75, adaptive=True, reason="from the calibration",
                           n_structures=9, stages=["iter_000"])
    files = [record(tmp_path, "a", True, 100, gamma_thresholds=used), record(tmp_path, "b", False, 1000,
                                                                          gamma_thresholds=used)]
    plain = run_gate(rcfg, 0, [record(tmp_path, "c", True, 100)], [], str(tmp_path / "d0.json"))
    assert plain.gamma_thresholds is None
    decision = run_gate(rcfg, 1, files, [str(tmp_path / "d0.json")], str(tmp_path / "decision.json"))
    assert decision.gamma_thresholds == used
    assert Decision.model_validate(json.loads((tmp_path / "decision.json").read_text())).gamma_thresholds == used


def test_a_property_out_of_tolerance_keeps_a_gamma_converged_loop_going(tmp_path):
    """convergence.properties: the gate reads the properties' records besides the explorations'."""
    rcfg = mock_config(tmp_path)
    props = tmp_path / "properties.json"
    write_json(props, [{"name": "lattice_constant", "ok": False}, {"name": "bulk_modulus", "ok": True}])
    decision = run_gate(rcfg, 0, [record(tmp_path, "a", False, 1000)], [], str(tmp_path / "d.json"),
                        property_files=[str(props)])
    assert decision.action is Action.CONTINUE
    assert "lattice_constant" in decision.reason and "bulk_modulus" not in decision.reason
    assert decision.gamma_thresholds is None
