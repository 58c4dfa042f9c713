"""A two-level mock loop run for real through `mlip-runner run` (Snakemake): the mock oracle (Morse) is the
expensive level, a Morse with other parameters the cheap one. Run through iteration 0's fit (about a minute):
only the selected structures reach the expensive oracle, the cheap level labels every candidate, the fit gets
the cheap labels, and the status shows both levels."""

import json

import pytest

from conftest import CONFIGS, run, runner_cmd
from mlip_autopipec.core import layout as L
from mlip_autopipec.core.identity import structure_hash
from mlip_autopipec.core.io import read_structures

TWO_LEVEL = (CONFIGS / "mock.yaml").read_text().replace("oracle: {kind: mock}", "oracle: {kind: mock, call_log: calls.txt}") + (
    "cheap_oracle: {kind: mock, epsilon: 0.3, r0: 2.6, call_log: cheap_calls.txt}\n"
    "validation: {n_generated: 4, temperatures: [600]}\n")


@pytest.fixture(scope="module")
def two_level_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("two_level_mock")
    assert "call_log: calls.txt" in TWO_LEVEL
    (d / "config.yaml").write_text(TWO_LEVEL)
    run(runner_cmd("run", "config.yaml", "--cores", "2", "--", L.potential(L.iter_dir(0))), cwd=d, timeout=600)
    return d


def hashes(path) -> set[str]:
    return {structure_hash(a) for a in read_structures(path)}


def test_only_selected_structures_reach_the_expensive_oracle(two_level_run):
    d = two_level_run
    selected = hashes(d / L.selected(L.iter_dir(0)))
    candidates = hashes(d / L.candidates(0))
    assert len(selected) == 5 and selected < candidates
    expensive_calls = set((d / "calls.txt").read_text().split())
    judged = hashes(d / L.selected(L.INITIAL)) | selected | hashes(d / L.VALIDATION_FILE)
    assert expensive_calls == judged  # no candidate the loop did not select
    cache_keys = {p.name.split("-")[0] for p in (d / L.label_cache(L.iter_dir(0))).glob("*.extxyz")}
    assert cache_keys == selected
    cheap_keys = {p.name.split("-")[0] for p in (d / L.cheap_label_cache(L.iter_dir(0))).glob("*.extxyz")}
    assert cheap_keys == candidates  # the cheap level labelled every candidate
    cheap_calls = set((d / "cheap_calls.txt").read_text().split())
    assert cheap_calls == hashes(d / L.selected(L.INITIAL)) | candidates | hashes(d / L.VALIDATION_FILE)


def test_selection_splits_between_the_selector_and_the_disagreement(two_level_run):
    chosen = read_structures(two_level_run / L.selected(L.iter_dir(0)))
    assert [a.info["selected_by"] for a in chosen] == ["gamma"] * 2 + ["disagreement"] * 3
    dis = [a.info["cheap_disagreement"] for a in chosen[2:]]
    assert dis == sorted(dis, reverse=True) and dis[-1] > 0


def test_the_fit_gets_the_cheap_labels_so_far(two_level_run):
    d = two_level_run
    pot = json.loads((d / L.potential(L.iter_dir(0))).read_text())  # the mock trainer lists what it saw
    cheap = read_structures(d / L.cheap_labels(L.INITIAL)) + read_structures(d / L.cheap_labels(L.iter_dir(0)))
    assert pot["prior_labels"] == [structure_hash(a) for a in cheap]
    record = json.loads((d / L.train_record(L.iter_dir(0))).read_text())
    assert record["n_cheap_structures"] == len(cheap) == 7 + 21
    assert record["validation_cheap"]["n_structures"] == 4


def test_status_shows_both_levels(two_level_run):
    d = two_level_run
    status = run(runner_cmd("status", d), cwd=d).stdout
    line = next(s for s in status.splitlines() if s.startswith("labels by level:"))
    assert "expensive 12 labelled, 0 failed" in line and "cheap 32 labelled, 0 failed" in line  # 7+5; 7+21+4
    state = json.loads(run(runner_cmd("status", d, "--json"), cwd=d).stdout)
    levels = {v["level"]: v for v in state["levels"]}
    assert (levels["expensive"]["n_labelled"], levels["cheap"]["n_labelled"]) == (12, 32)
    assert levels["cheap"]["n_jobs"] == 3  # one per stage: initial, iter_000, validation
