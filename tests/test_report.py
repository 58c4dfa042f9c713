"""`mlip-runner status` and `mlip-runner report` on finished runs (mock, and a small real EMT run),
the `report` rule (the report exists when the final flag does), and the progress reporter."""

import io
import json
import logging
import re
import shutil
from pathlib import Path

import pytest

from conftest import run, runner_cmd
from mlip_autopipec.loop.state import derive_state
from mlip_autopipec.report.build import FIGURES
from mlip_autopipec.core.progress import Progress
from mlip_autopipec.report.table import format_status

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

@pytest.fixture(scope="module")
def mock_run(finished_mock_run):
    """The session's finished mock run (conftest.py), with a generated held-out set."""
    return finished_mock_run[0]


# -- status table ---------------------------------------------------------------------------------
def parse_table(text: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Rows of the status table keyed by the `iter` cell; cells split on 2+ spaces."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("iter "))
    header = re.split(r"\s{2,}", lines[start].strip())
    rows = {}
    for line in lines[start + 2:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        assert len(cells) == len(header), line
        rows[cells[0]] = dict(zip(header, cells))
    return header, rows


def _num(cell: str):
    return None if cell == "-" else cell


def _mev(metrics, key):
    return None if not metrics or metrics.get(key) is None else f"{1000 * metrics[key]:.2f}"


def check_table_matches_state(d: Path) -> dict:
    out = run(runner_cmd("status", d), cwd=d).stdout
    state = json.loads((d / "workflow_state" / "workflow_state.json").read_text())
    assert out.startswith(f"status: {state['status']}  iteration: {state['iteration']}")
    _, rows = parse_table(out)
    assert list(rows) == (["init"] + [f"{h['iteration']:03d}" for h in state["history"]]
                          + (["final fit"] if state["final_fit"] else []))
    if state["final_fit"]:
        final = rows["final fit"]
        assert final["basis"].split()[0] == str(state["final_fit"]["n_functions"])
        assert _num(final["data"]) == str(state["final_fit"]["dataset_size"])
        assert _num(final["F meV/Å"]) == _mev(state["final_fit"]["validation"], "force_rmse")
        # whether it ships (the ship checkpoint) and its spot checks on the fresh frames
        outcome = state["final_fit"].get("outcome")
        assert final["decision"] == {None: "-", "shipped": "shipped", "failed": "failed, kept earlier",
                                     "kept_earlier": "kept earlier", "rejected": "rejected, kept earlier"}[outcome]
        spot = state["final_fit"].get("spot_check")
        assert _num(final["spot F meV/Å"]) == (None if not spot else f"{1000 * spot['force_rmse']:.2f} "
                                               + ("ok" if spot["passed"] else "FAIL"))
    init = rows["init"]
    assert _num(init["lab"]) == str(state["initial"]["n_labelled"])
    assert _num(init["data"]) == str(state["initial"]["dataset_size"])
    for h in state["history"]:
        row = rows[f"{h['iteration']:03d}"]
        halted = len(h["halted_conditions"])
        assert row["halted/ran"] == f"{halted}/{len(h['conditions']) - halted}"
        assert _num(row["halt step"]) == (None if h["halt_step"] is None else str(h["halt_step"]))
        assert _num(row["max gamma"]) == f"{h['max_gamma']:.2f}"
        for col, key in (("cand", "n_candidates"), ("sel", "n_selected"), ("lab", "n_labelled"),
                         ("fail", "n_failed"), ("data", "dataset_size")):
            assert _num(row[col]) == (None if h[key] is None else str(h[key])), (col, row, h)
        assert _num(row["E meV/at"]) == _mev(h["validation"], "energy_rmse_per_atom")
        assert _num(row["F meV/Å"]) == _mev(h["validation"], "force_rmse")
        assert row["decision"] == h["action"]
        t = h["timings_s"]
        explore = sum(v for k, v in t.items() if k.startswith("explore:"))
        assert float(row["explore s"]) == pytest.approx(explore, abs=0.051)
        if h["action"] == "continue":
            # a stage's seconds are the sum over its rules' benchmark files; a job killed after its
            # outputs were complete (the session's default run) left none, so sum what is there
            for col, rules in (("label s", ("label", "gather_labels")), ("train s", ("train",)),
                               ("refine s", ("collect_halts", "candidates", "select"))):
                assert any(r in t for r in rules), (col, t)
                assert float(row[col]) == pytest.approx(sum(t.get(r, 0.0) for r in rules), abs=0.051), (col, row, t)
    return state


def test_status_table_matches_state_file_mock(mock_run):
    state = check_table_matches_state(mock_run)
    assert state["status"] == "CONVERGED"
    assert [h["n_labelled"] for h in state["history"]] == [5, 5, 5, None]


def test_status_table_while_running(mock_run, tmp_path):
    """A run caught mid-iteration: the table prints what exists and what runs next."""
    d = tmp_path / "partial"
    shutil.copytree(mock_run, d, ignore=shutil.ignore_patterns(".snakemake", "report"))
    for name in ("iter_002/labels.extxyz", "iter_002/labels_failed.json", "iter_002/train.json",
                 "iter_002/potential.yace", "converged.flag"):
        (d / name).unlink()
    shutil.rmtree(d / "iter_003")
    (d / "iter_002" / "label_jobs" / "2.json").unlink()
    out = run(runner_cmd("status", d), cwd=d).stdout
    assert out.startswith("status: LABELING  iteration: 2")
    # with the run directory (and so its config) at hand the table also says what runs next
    out = format_status(derive_state(d), workdir=d)
    assert "next: iter_002: label x1, gather_labels x1, train x1" in out
    _, rows = parse_table(out)
    assert rows["002"]["lab"] == "-" and rows["002"]["sel"] == "5"


# -- report ------------------------------------------------------------------------------------
def check_report(d: Path, expect_validation: bool) -> str:
    report = d / "report" / "report.html"
    assert report.is_file()
    for name, _ in FIGURES.values():
        png = d / "report" / name
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
    from matplotlib.image import imread

    img = imread(d / "report" / "learning_curve.png")
    assert img.shape[0] > 200 and img.shape[1] > 400 and img[..., :3].std() > 0.01, "blank learning curve"
    html = report.read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)
    assert "<link" not in html and "<script" not in html and 'src="http' not in html, "must be self-contained"
    state = derive_state(d)
    assert state.status.value in html
    if expect_validation:
        last = [h for h in state.history if h.validation][-1]
        assert f"{1000 * last.validation.force_rmse:.2f}" in html
        assert "held-out set" in html
    return html


def test_report_on_finished_mock_run(mock_run):
    assert (mock_run / "converged.flag").is_file()
    assert (mock_run / "report" / "report.html").stat().st_mtime >= (mock_run / "converged.flag").stat().st_mtime
    html = check_report(mock_run, expect_validation=True)
    assert "Plan and bounds" in html and "Configuration" in html


def test_report_cli_rewrites_report(mock_run, tmp_path):
    out = tmp_path / "elsewhere.html"
    proc = run(runner_cmd("report", mock_run, "--out", out), cwd=tmp_path)
    assert f"{len(FIGURES)} figures" in proc.stdout
    assert out.is_file() and (tmp_path / "parity.png").is_file()
    proc = run(runner_cmd("report", tmp_path / "missing"), cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "no such directory" in proc.stderr


def test_report_of_run_in_progress(mock_run, tmp_path):
    """The report works at any point: here after the initial data only."""
    d = tmp_path / "early"
    d.mkdir()
    shutil.copy(mock_run / "config.yaml", d)
    shutil.copytree(mock_run / "initial", d / "initial")
    shutil.copytree(mock_run / "iter_000" / "explore", d / "iter_000" / "explore")
    run(runner_cmd("report", d), cwd=d)
    check_report(d, expect_validation=False)


def test_plan_counts_every_job_of_the_finished_mock_run(mock_run):
    """Over the whole finished run, the plan's jobs per rule are the jobs Snakemake ran."""
    plan = json.loads(run(runner_cmd("plan", "config.yaml", "--json"), cwd=mock_run).stdout)
    assert plan["finished"] and plan["resume"].startswith("nothing")
    planned: dict[str, int] = {}
    for stage in plan["stages"]:
        for rule, k in stage["jobs"].items():
            planned[rule] = planned.get(rule, 0) + k
    ran = {p.name: len(list(p.glob("*.tsv"))) for p in (mock_run / "logs" / "benchmark").iterdir()}
    assert ran == planned


@pytest.mark.slow
def test_status_and_report_on_the_default_real_run(default_cu_run):
    d, _ = default_cu_run
    state = check_table_matches_state(d)
    assert state["status"] == "CONVERGED"
    assert state["history"][0]["validation"] and state["history"][0]["n_labelled"]
    html = check_report(d, expect_validation=True)
    # the loop refined at least once, and the report's parity plot names the shipped potential: the
    # demo config's final fit (trainer.ladder.final_rungs) if it passed the end criteria, else the loop's
    assert state["history"][0]["action"] == "continue"
    shipped = json.loads((d / "final_check" / "ship.json").read_text())["shipped_stage"]
    assert state["current_potential"] == f"{shipped}/potential.yace" and state["current_potential"] in html
    # the properties table checks itself: its row in the report, its verdict in the status
    assert "bulk_modulus_consistency" in html
    table = run(runner_cmd("status", str(d)), cwd=d, timeout=120).stdout
    assert "B(Cij) = B(EOS) check ok" in table


# -- progress reporter ---------------------------------------------------------------------------
class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_logs_every_tenth_when_not_a_terminal(caplog, monkeypatch):
    monkeypatch.delenv("MLIP_PROGRESS", raising=False)
    monkeypatch.setattr("mlip_autopipec.core.progress.LOG_MIN_INTERVAL_S", 0.0)
    logger = logging.getLogger("test.progress")
    with caplog.at_level(logging.INFO, logger="test.progress"):
        p = Progress(1000, "explore t600", unit="steps", stream=io.StringIO(), logger=logger)
        for step in range(1, 1001):
            p.update_to(step)
        p.close()
    lines = [r.getMessage() for r in caplog.records]
    assert 9 <= len(lines) <= 11, lines
    assert lines[0].startswith("explore t600: 100/1000 steps (10%)")
    assert lines[-1].startswith("explore t600: 1000/1000 steps (100%)")


def test_progress_fast_loop_logs_only_its_last_line(caplog, monkeypatch):
    monkeypatch.delenv("MLIP_PROGRESS", raising=False)
    logger = logging.getLogger("test.progress")
    with caplog.at_level(logging.INFO, logger="test.progress"):
        with Progress(10, "label initial chunk 0", unit="structures", stream=io.StringIO(), logger=logger) as p:
            for _ in range(10):
                p.update()
    assert [r.getMessage()[:41] for r in caplog.records] == ["label initial chunk 0: 10/10 structures ("]


def test_progress_draws_a_bar_on_a_terminal(monkeypatch):
    monkeypatch.delenv("MLIP_PROGRESS", raising=False)
    tty = FakeTTY()
    p = Progress(20, "label iter_000 chunk 0", unit="structures", stream=tty)
    for _ in range(7):
        p.update()
    p.close(note="halted")
    text = tty.getvalue()
    assert text.startswith("\r[") and text.endswith("(halted)\n")
    assert "7/20 structures (35%)" in text.splitlines()[-1]


def test_progress_can_be_switched_off(monkeypatch, caplog):
    monkeypatch.setenv("MLIP_PROGRESS", "0")
    tty = FakeTTY()
    with caplog.at_level(logging.INFO):
        with Progress(10, "x", stream=tty) as p:
            for _ in range(10):
                p.update()
    assert tty.getvalue() == "" and not caplog.records
