"""A short real loop from a reduced portfolio (issue 29): pyace fits, MaxVol, ASE MD, EMT labels, through
Snakemake. Checks the wiring: one explore job per portfolio condition in every iteration, a held-out
error per kind after every fit, the per-kind table in `mlip-runner status` and the report."""

import json
import shutil

import pytest

from conftest import CONFIGS, run, runner_cmd
from mlip_autopipec.core import layout as L
from mlip_autopipec.domain_models.records import TrainRecord, read_record

pytestmark = pytest.mark.slow

KINDS = {"fcc", "vacancy", "surface_111", "nanoparticle"}


def test_reduced_portfolio_loop(tmp_path):
    shutil.copy(CONFIGS / "portfolio_small.yaml", tmp_path / "config.yaml")
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=tmp_path, timeout=900)
    state = json.loads((tmp_path / "workflow_state" / "workflow_state.json").read_text())
    assert state["status"] in ("CONVERGED", "STOPPED_MAX_CYCLES", "STOPPED_PATIENCE")
    for h in state["history"]:
        assert {c["condition"].rsplit("_t", 1)[0] for c in h["conditions"]} == KINDS
    stages = [L.INITIAL] + [L.iter_dir(h["iteration"]) for h in state["history"] if h["validation"]]
    for stage in stages:
        val = read_record(TrainRecord, tmp_path / L.train_record(stage)).validation
        assert set(val.by_kind) == KINDS
        assert sum(m.n_structures for m in val.by_kind.values()) == val.n_structures == 2 * len(KINDS)
    # the slab is non-periodic along z and the cluster nowhere, as labelled
    status = run(runner_cmd("status", "."), cwd=tmp_path, timeout=120).stdout
    assert "held-out error per portfolio kind" in status
    assert all(k in status for k in KINDS)
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Held-out error per portfolio kind" in html
