"""Crash matrix: SIGKILL the whole run at a named point of each stage, rerun the same command.

Every case must finish with the same results as an uninterrupted run (same seeds), compute no
oracle label twice, leave nothing half-written that a later step reads, need nothing but the rerun
(the CLI clears Snakemake's stale lock and reruns incomplete jobs), and end with a state file that
agrees with the files.

To keep it cheap the points are grouped: within a group, each rerun is itself killed at the next
point (in the order the workflow reaches them), so one directory goes through the whole chain of
crashes and a final clean rerun, and is then compared with the one uninterrupted reference run.
Every point is still reached exactly where a fresh run would reach it first (the run must die
there: return code -9), now in a resumed run.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import CONFIGS, runner_cmd
from mlip_autopipec.core.crashpoints import ENV
from mlip_autopipec.core.io import read_structures
from mlip_autopipec.loop.state import derive_state, read_state

# (crash point, what it simulates): mid-write of every stage's output; "just finished" (outputs
# complete, Snakemake not yet told) for the stages whose redo would cost most (label, train, gate) —
# the others take the same path through Snakemake's incomplete-job handling. Two groups, each in
# the order the workflow reaches its points; together every point once.
GROUPS = {
    "a": [
        ("write:workflow_state.json", "state write"),
        ("label:after_one", "label job, between two structures"),
        ("write:potential.yace", "train, mid-write"),
        ("write:t600.extxyz", "explore, mid-write"),
        ("end:gate", "checkpoint, just finished"),
        ("write:candidates.xyz", "candidates, mid-write"),
        ("write:converged.flag", "finalize, mid-write"),
    ],
    "b": [
        ("end:label", "label job, just finished"),
        ("write:labels.extxyz", "gather labels, mid-write"),
        ("end:train", "train, just finished"),
        ("write:exploration.json", "checkpoint, mid-write"),
        ("write:halt.xyz", "collect halts, mid-write"),
        ("write:selected.xyz", "select, mid-write"),
    ],
}
CASES = [case for group in GROUPS.values() for case in group]

COMPARED = ["initial/selected.xyz", "initial/labels.extxyz", "initial/potential.yace",
            "iter_000/explore/t600.extxyz", "iter_000/explore/t600.json", "iter_000/exploration.json",
            "iter_000/halt.xyz", "iter_000/candidates.xyz", "iter_000/selected.xyz",
            "iter_000/labels.extxyz", "iter_000/potential.yace", "iter_000/potential.yaml",
            "iter_001/explore/t600.json", "iter_001/exploration.json", "converged.flag"]


def _without_times(obj):
    """Wall times differ between runs; everything else must not."""
    if isinstance(obj, dict):
        return {k: _without_times(v) for k, v in obj.items() if "time" not in k}
    if isinstance(obj, list):
        return [_without_times(v) for v in obj]
    return obj


def content(path: Path):
    if path.suffix in (".xyz", ".extxyz"):
        frames = read_structures(path)
        return [(a.get_chemical_symbols(), a.positions.round(10).tolist(), a.cell.array.round(10).tolist(),
                 _without_times(dict(a.info)),
                 None if a.calc is None else (round(a.get_potential_energy(), 10), a.get_forces().round(10).tolist()))
                for a in frames]
    if path.suffix in (".json", ".yace", ".yaml"):
        return _without_times(json.loads(path.read_text()))
    return path.read_text()


def write_config(d: Path) -> None:
    """mock_crash.yaml with one label job per stage: a kill at the end of one label job would also
    kill a concurrent one between a finished call and its cache write, and that in-flight label is
    rightly computed again, which the call count below cannot tell from a lost one (seen in CI)."""
    cfg = yaml.safe_load((CONFIGS / "mock_crash.yaml").read_text())
    cfg["labeling"] = {**cfg.get("labeling", {}), "structures_per_job": 10}
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))


def start(d: Path, crashpoint: str | None) -> subprocess.Popen:
    env = {**os.environ, "PATH": f"{Path(runner_cmd()[0]).parent}:{os.environ['PATH']}"}
    env.pop(ENV, None)
    if crashpoint:
        env[ENV] = crashpoint
    return subprocess.Popen(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=d, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("reference")
    write_config(d)
    proc = start(d, None)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    return d


def test_every_point_is_in_one_group():
    points = [c[0] for c in CASES]
    assert len(points) == len(set(points)) == 13


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_kill_and_rerun(tmp_path, reference, group):
    write_config(tmp_path)
    what = "the crashes at " + ", ".join(point for point, _ in GROUPS[group])
    for crashpoint, stage in GROUPS[group]:
        proc = start(tmp_path, crashpoint)
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == -9, f"the run was not killed at {crashpoint} ({stage}):\n{out[-2000:]}"
        # every write is temp-then-rename: a kill before the rename leaves no flag
        assert not (tmp_path / "converged.flag").exists()

    proc = start(tmp_path, None)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"rerun after {what} failed:\n{out[-4000:]}"
    assert (tmp_path / "converged.flag").is_file()

    for name in COMPARED:
        assert content(tmp_path / name) == content(reference / name), f"{name} differs after {what}"
    calls = (tmp_path / "oracle_calls.txt").read_text().split()
    assert len(calls) == len(set(calls)), f"a label was computed twice after {what}"
    assert sorted(calls) == sorted((reference / "oracle_calls.txt").read_text().split())
    assert not list(tmp_path.rglob(".*.tmp")), "temporary files were left behind"
    state, derived = read_state(tmp_path), derive_state(tmp_path)
    assert state.model_dump(exclude={"updated_at"}) == derived.model_dump(exclude={"updated_at"})
    assert state.status.value == "CONVERGED"
