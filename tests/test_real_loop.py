"""Real active learning end to end (pyace fits, MaxVol, ASE MD, EMT labels) through Snakemake."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import CONFIGS, REPO, run, runner_cmd
from mlip_autopipec.core.io import count_frames, read_structures

pytestmark = pytest.mark.slow


def total_labels(d: Path) -> int:
    return sum(count_frames(p) for p in [d / "initial" / "labels.extxyz", *d.glob("iter_*/labels.extxyz")])


def test_default_cu_emt_run_converges_accurately(tmp_path):
    shutil.copy(REPO / "config" / "config.yaml", tmp_path / "config.yaml")
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=tmp_path, timeout=900)
    assert (tmp_path / "converged.flag").is_file()
    state = json.loads((tmp_path / "workflow_state" / "workflow_state.json").read_text())
    assert state["status"] == "CONVERGED"
    assert total_labels(tmp_path) <= 100
    last_trained = [h for h in state["history"] if h["validation"]][-1]
    assert last_trained["validation"]["force_rmse"] < 0.010
    assert last_trained["validation"]["energy_rmse_per_atom"] < 0.002
    # every iteration that continued went through the whole chain with real files
    for h in state["history"][:-1]:
        assert h["n_selected"] and h["n_labelled"] == h["n_selected"]
        assert h["n_candidates"] >= h["n_selected"]
        assert h["halted_conditions"]
    assert not state["history"][-1]["halted_conditions"]
    # the learning is visible: the last exploration reached further than the first
    first, last = state["history"][0], state["history"][-1]
    assert max(c["steps_run"] for c in first["conditions"]) < min(c["steps_run"] for c in last["conditions"])
    # the final potential proven by physical properties against EMT on identical structures
    props = {r["name"]: r for r in json.loads((tmp_path / "final" / "properties.json").read_text())}
    assert props["lattice_constant"]["oracle"] == pytest.approx(3.590, abs=0.002)  # ASE's EMT table
    assert props["bulk_modulus"]["oracle"] == pytest.approx(134.4, rel=0.01)
    limits = {"lattice_constant": 0.005, "bulk_modulus": 0.08, "C11": 0.10, "C12": 0.10, "C44": 0.10,
              "surface_energy_111": 0.10}
    for name, rel in limits.items():
        assert props[name]["rel_error"] <= rel, props[name]
    assert props["vacancy_formation_energy"]["abs_error"] <= 0.1
    assert all(r["ok"] for r in props.values()), [r for r in props.values() if not r["ok"]]


def test_binary_cuni_converges(tmp_path):
    shutil.copy(CONFIGS / "cuni_emt.yaml", tmp_path / "config.yaml")
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=tmp_path, timeout=900)
    assert (tmp_path / "converged.flag").is_file()
    labelled = read_structures(tmp_path / "iter_000" / "labels.extxyz")
    assert {"Cu", "Ni"} <= set(labelled[0].get_chemical_symbols())
    state = json.loads((tmp_path / "workflow_state" / "workflow_state.json").read_text())
    val = [h for h in state["history"] if h["validation"]][-1]["validation"]
    assert val["force_rmse"] < 0.03


def test_killed_real_run_resumes_without_relabelling_or_refitting(tmp_path):
    shutil.copy(REPO / "config" / "config.yaml", tmp_path / "config.yaml")
    env = {**os.environ, "PATH": f"{Path(runner_cmd()[0]).parent}:{os.environ['PATH']}"}
    proc = subprocess.Popen(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 600
    # kill while iteration 0's labels exist and its training runs (or just after)
    while not (tmp_path / "iter_000" / "labels.extxyz").exists():
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p: p.stat().st_mtime_ns for p in [*(tmp_path / "initial").glob("potential.*"),
                                               tmp_path / "initial" / "labels.extxyz",
                                               tmp_path / "iter_000" / "labels.extxyz",
                                               *(tmp_path / "iter_000" / "label_cache").glob("*")]}
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=tmp_path, timeout=900)
    assert (tmp_path / "converged.flag").is_file()
    for p, mtime in done.items():
        assert p.stat().st_mtime_ns == mtime, f"{p} was recomputed after the resume"
