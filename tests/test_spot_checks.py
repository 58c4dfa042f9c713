"""Spot checks through Snakemake (mock components): gamma-convergence ends the loop only when the
oracle agrees with the potential on frames sampled from its own explorations.

The mock trainer's 'potential' is the mock oracle's default Morse model, so with the default
oracle the spot checks are exact (pass), and with a stiffer oracle they fail.
"""

import json
from pathlib import Path

import pytest
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


@pytest.fixture(scope="module")
def failing_checks_run(tmp_path_factory) -> Path:
    """Spot checks that fail and stop improving: the mock trainer's potential never changes while the
    oracle disagrees with it, so every check fails and none beats the first. One run serves both
    tests below (CI time: a second run of ~40 jobs before)."""
    d = tmp_path_factory.mktemp("failing_checks")
    oracle = yaml.safe_load((CONFIGS / "mock_crash.yaml").read_text())["oracle"]
    write_config(d, oracle={**oracle, "epsilon": 0.45}, max_cycles=12,
                 convergence={"spot_checks": 2, "force_rmse": 0.001, "energy_rmse": 0.001, "spot_check_patience": 2})
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=d, timeout=900)
    return d


def test_failed_spot_checks_keep_the_loop_going(failing_checks_run):
    d = failing_checks_run
    ds = decisions(d)
    # iteration 0 halts; 1 runs through -> spot checks; 2 runs through but they failed -> spot checks again
    assert [x["action"] for x in ds[:3]] == ["continue", "continue", "continue"]
    assert [x["spot_check"] for x in ds[:3]] == [False, True, True]
    assert ds[2]["spot_check_result"]["passed"] is False
    assert ds[2]["spot_check_result"]["force_rmse"] > 0.001
    # the spot checks are that iteration's labels: frames sampled from the exploration, tagged
    spots = read_structures(d / "iter_001" / "labels.extxyz")
    assert len(spots) == 2 and all(a.info["spot_check"] for a in spots)
    assert count_frames(d / "iter_001" / "halt.xyz") == 0
    # ... and they joined the training set of the next fit
    train = json.loads((d / "iter_001" / "train.json").read_text())
    assert train["n_structures"] == count_frames(d / "initial" / "labels.extxyz") + 2 + count_frames(
        d / "iter_000" / "labels.extxyz")
    assert train["prior"]["spot_check"]["n_structures"] == 2
    state = json.loads((d / "workflow_state" / "workflow_state.json").read_text())
    assert state["history"][1]["spot_check"]["passed"] is False


def test_passed_spot_checks_end_the_loop(tmp_path):
    write_config(tmp_path)
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=tmp_path, timeout=900)
    ds = decisions(tmp_path)
    assert [d["action"] for d in ds] == ["continue", "continue", "converged"]
    assert ds[2]["spot_check_result"]["passed"] is True
    assert "passed" in ds[2]["reason"]
    assert (tmp_path / "converged.flag").is_file()


def test_spot_checks_that_stop_improving_end_the_loop_by_patience(failing_checks_run):
    # the failed checks cannot keep improving: the run stops by the spot-check patience (2 checks in a
    # row not beating the best) long before max_cycles
    d = failing_checks_run
    ds = decisions(d)
    assert ds[-1]["action"] == "stop_patience"
    assert len(ds) < 12
    assert "2 spot check(s) in a row without beating the best one >= spot_check_patience=2" in ds[-1]["reason"]
    checked = [x["spot_check_result"] for x in ds if x["spot_check_result"]]
    assert len(checked) >= 3 and not any(r["passed"] for r in checked)
    assert (d / "stopped.flag").is_file() and not (d / "converged.flag").exists()
    state = json.loads((d / "workflow_state" / "workflow_state.json").read_text())
    assert state["status"] == "STOPPED_PATIENCE"


def test_with_max_atoms_spot_checks_and_validation_frames_are_labelled_as_cut_outs(tmp_path):
    """labeling.max_atoms bounds every structure the oracle sees, the spot checks and the generated
    validation frames included: a 256-atom cell, max_atoms 100, explorations that run through at
    once (iteration 0 is spot-checked). The spot checks are scored on the rows the cut-outs trust."""
    cell = {"kind": "bulk", "element": "Cu", "crystal": "fcc", "a": 3.61, "supercell": [4, 4, 4]}
    write_config(tmp_path, max_cycles=2, structures=[cell],
                 dynamics={"kind": "mock", "halt_step": 50, "halt_generations": 0},
                 labeling={"structures_per_job": 20, "max_atoms": 100,
                           "cutouts": {"per_structure": 2, "relax_steps": 10}},  # CI time
                 validation={"n_generated": 2, "temperatures": [600]})
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=tmp_path, timeout=900)
    ds = decisions(tmp_path)
    assert ds[0]["spot_check"] is True  # ran through at once: spot checks in iteration 0
    label_files = [tmp_path / "initial" / "labels.extxyz", *sorted(tmp_path.glob("iter_*/labels.extxyz")),
                   tmp_path / "validation" / "validation.extxyz"]
    sizes = {f.parent.name + "/" + f.name: [len(a) for a in read_structures(f)] for f in label_files}
    assert all(sizes.values()) and max(max(s) for s in sizes.values()) <= 100, sizes
    spots = read_structures(tmp_path / "iter_000" / "labels.extxyz")
    assert all(a.info["spot_check"] and a.info["energy_weight"] == 0.0 for a in spots)
    assert all(0 < a.arrays["force_weight"].sum() < len(a) for a in spots)  # core trusted, boundary not
    prior = json.loads((tmp_path / "iter_000" / "train.json").read_text())["prior"]["spot_check"]
    assert prior["n_structures"] == len(spots) and prior["n_energy_labels"] == 0
    assert prior["energy_rmse_per_atom"] is None  # no cut-out energy is a label
