"""Spot checks through Snakemake (mock components): gamma-convergence ends the loop only when the
oracle agrees with the potential on frames sampled from its own explorations.

The mock trainer's 'potential' is the mock oracle's default Morse model, so with the default
oracle the spot checks are exact (pass), and with a stiffer oracle they fail.
"""

import json
from pathlib import Path

import yaml

from conftest import CONFIGS, run, runner_cmd
from mlip_autopipec.core.io import count_frames, read_structures


def write_config(d: Path, **over) -> None:
    cfg = yaml.safe_load((CONFIGS / "mock_crash.yaml").read_text())
    cfg.update({"max_cycles": 4, "convergence": {"spot_checks": 2, "force_rmse": 0.001, "energy_rmse": 0.001}})
    cfg.update(over)
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))


def decisions(d: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(d.glob("iter_*/exploration.json"))]


def test_failed_spot_checks_keep_the_loop_going(tmp_path):
    oracle = yaml.safe_load((CONFIGS / "mock_crash.yaml").read_text())["oracle"]
    write_config(tmp_path, oracle={**oracle, "epsilon": 0.45})  # the oracle disagrees with the potential
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=tmp_path, timeout=900)
    ds = decisions(tmp_path)
    # iteration 0 halts; 1 runs through -> spot checks; 2 runs through but they failed -> spot checks again
    assert [d["action"] for d in ds] == ["continue", "continue", "continue", "stop_max_cycles"]
    assert [d["spot_check"] for d in ds] == [False, True, True, False]
    assert ds[2]["spot_check_result"]["passed"] is False
    assert ds[2]["spot_check_result"]["force_rmse"] > 0.001
    assert (tmp_path / "stopped.flag").is_file() and not (tmp_path / "converged.flag").exists()
    # the spot checks are that iteration's labels: frames sampled from the exploration, tagged
    spots = read_structures(tmp_path / "iter_001" / "labels.extxyz")
    assert len(spots) == 2 and all(a.info["spot_check"] for a in spots)
    assert count_frames(tmp_path / "iter_001" / "halt.xyz") == 0
    # ... and they joined the training set of the next fit
    train = json.loads((tmp_path / "iter_001" / "train.json").read_text())
    assert train["n_structures"] == count_frames(tmp_path / "initial" / "labels.extxyz") + 2 + count_frames(
        tmp_path / "iter_000" / "labels.extxyz")
    assert train["prior"]["spot_check"]["n_structures"] == 2
    state = json.loads((tmp_path / "workflow_state" / "workflow_state.json").read_text())
    assert state["history"][1]["spot_check"]["passed"] is False


def test_passed_spot_checks_end_the_loop(tmp_path):
    write_config(tmp_path)
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=tmp_path, timeout=900)
    ds = decisions(tmp_path)
    assert [d["action"] for d in ds] == ["continue", "continue", "converged"]
    assert ds[2]["spot_check_result"]["passed"] is True
    assert "passed" in ds[2]["reason"]
    assert (tmp_path / "converged.flag").is_file()


def test_spot_checks_that_stop_improving_end_the_loop_by_patience(tmp_path):
    # the mock trainer's potential never changes, so the failed checks cannot keep improving: the run
    # stops by the spot-check patience (2 checks in a row not beating the best) long before max_cycles
    oracle = yaml.safe_load((CONFIGS / "mock_crash.yaml").read_text())["oracle"]
    write_config(tmp_path, oracle={**oracle, "epsilon": 0.45}, max_cycles=12,
                 convergence={"spot_checks": 2, "force_rmse": 0.001, "energy_rmse": 0.001, "spot_check_patience": 2})
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=tmp_path, timeout=900)
    ds = decisions(tmp_path)
    assert ds[-1]["action"] == "stop_patience"
    assert len(ds) < 12
    assert "2 spot check(s) in a row without beating the best one >= spot_check_patience=2" in ds[-1]["reason"]
    checked = [d["spot_check_result"] for d in ds if d["spot_check_result"]]
    assert len(checked) >= 3 and not any(r["passed"] for r in checked)
    assert (tmp_path / "stopped.flag").is_file() and not (tmp_path / "converged.flag").exists()
    state = json.loads((tmp_path / "workflow_state" / "workflow_state.json").read_text())
    assert state["status"] == "STOPPED_PATIENCE"
