"""Faults injected into real runs: failing oracles, a diverging fit, an unwritable directory,
two runs at once. Each is recorded and survived, or refused with one clear line."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import CONFIGS, run, runner_cmd
from mlip_autopipec.core.io import count_frames, read_structures


def project(tmp_path: Path, **overrides) -> Path:
    cfg = yaml.safe_load((CONFIGS / "mock_crash.yaml").read_text())
    for key, value in overrides.items():
        section, _, field = key.partition(".")
        if field:
            cfg.setdefault(section, {})[field] = value
        else:
            cfg[section] = value
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def all_failures(d: Path) -> list[dict]:
    out = []
    for f in sorted(d.glob("*/labels_failed.json")):
        out += json.loads(f.read_text())
    return out


# One failure mode through a whole run; how each mode shows (NaN forces, a wrong atom count) is
# checked at the label step itself (test_step_label.py), which is the same path for every mode.
@pytest.mark.parametrize("mode, reason", [("raise", "injected failure")])
def test_failing_oracle_is_recorded_and_skipped(tmp_path, mode, reason):
    d = project(tmp_path, **{"oracle.fail_fraction": 0.3, "oracle.fail_mode": mode,
                             "initial_data.n_rattled": 8})
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=d)
    assert (d / "converged.flag").is_file()
    failures = all_failures(d)
    assert failures, "30% failures over ~14 structures: some must fail"
    assert all(reason in f["reason"] for f in failures)
    # nothing that succeeded is lost: every structure is labelled or listed as failed
    for stage in ("initial", "iter_000"):
        n_sel = count_frames(d / stage / "selected.xyz")
        n_ok = count_frames(d / stage / "labels.extxyz")
        n_bad = len(json.loads((d / stage / "labels_failed.json").read_text()))
        assert n_ok + n_bad == n_sel
    for atoms in read_structures(d / "initial" / "labels.extxyz"):
        assert len(atoms) == 32


def test_hanging_oracle_times_out(tmp_path):
    d = project(tmp_path, **{"oracle.fail_fraction": 0.3, "oracle.fail_mode": "hang", "oracle.timeout_s": 2,
                             "initial_data.n_rattled": 6})
    t0 = time.time()
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=d, timeout=300)
    assert (d / "converged.flag").is_file()
    failures = all_failures(d)
    assert failures and all("timed out after 2 s" in f["reason"] for f in failures)
    assert time.time() - t0 < 240


def test_every_label_failing_stops_with_clear_message(tmp_path):
    d = project(tmp_path, **{"oracle.fail_fraction": 0.999999})
    proc = run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=d, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "all 4 oracle calculations of initial failed" in out
    assert "initial/label_jobs" in out
    assert not (d / "converged.flag").exists()


def test_diverging_fit_keeps_previous_potential(tmp_path):
    d = project(tmp_path, **{"trainer.fail_generations": [1], "max_cycles": 2,
                             "dynamics.halt_generations": 2})
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=d)
    record = json.loads((d / "iter_000" / "train.json").read_text())
    assert record["kept_previous"] is True and "diverged" in record["error"]
    assert (d / "iter_000" / "potential.yace").read_bytes() == (d / "initial" / "potential.yace").read_bytes()
    assert "keeping the previous potential" in (d / "logs" / "train" / "iter_000.log").read_text()
    assert (d / "stopped.flag").is_file()
    state = json.loads((d / "workflow_state" / "workflow_state.json").read_text())
    assert state["status"] == "STOPPED_MAX_CYCLES"


@pytest.mark.parametrize("where", ["proc", "under_a_file"])
def test_unwritable_output_directory(tmp_path, where):
    """Checked before any work (root may write anywhere, so use places nobody can write)."""
    d = project(tmp_path)
    if where == "proc":
        out = Path("/proc/mlip-autopipec-test")
    else:
        (tmp_path / "a_file").write_text("")
        out = tmp_path / "a_file" / "run"
    proc = run(runner_cmd("run", str(d / "config.yaml"), "--workdir", str(out)), cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "output directory is not writable" in proc.stderr and str(out) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["config.yaml"] + (["a_file"] if where != "proc" else []))


def test_second_run_in_same_directory_refuses(tmp_path):
    d = project(tmp_path, **{"oracle.fail_fraction": 0.5, "oracle.fail_mode": "hang", "oracle.timeout_s": 20})
    env = {**os.environ, "PATH": f"{Path(runner_cmd()[0]).parent}:{os.environ['PATH']}"}
    first = subprocess.Popen(runner_cmd("run", "config.yaml"), cwd=d, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 60
        while not (d / "workflow_state" / ".run.lock").exists():
            assert time.time() < deadline
            time.sleep(0.1)
        time.sleep(0.5)
        second = run(runner_cmd("run", "config.yaml"), cwd=d, check=False)
        assert second.returncode == 2
        assert "another mlip-runner run is active in this directory" in second.stderr
        assert first.poll() is None, "the first run must be unaffected"
    finally:
        os.killpg(first.pid, 9)
        first.wait()
