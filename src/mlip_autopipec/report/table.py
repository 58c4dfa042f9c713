"""`mlip-runner status`: one row per iteration, read from the derived state.

Every number comes from `WorkflowState` (itself derived from the files on disk), so the table can
be printed at any time, also while a run is going on; with the run directory at hand it adds the
initial stage's wall times and what the run does next (from the plan).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..loop.property_state import summary_line as property_summary_line
from ..shipping.summary import shipped_lines
from ..domain_models.rmse import RmseMetrics
from ..domain_models.state import (FinalFitSummary, InitialSummary, IterationRecord, LabelNoiseSummary,
                                   SpotCheckResult, WorkflowState)
from .data import InitialTimes, initial_stage_times, stage_times

HEADER = ["iter", "halted/ran", "halt step", "max gamma", "cand", "sel", "lab", "fail", "data",
          "E meV/at", "F meV/Å", "explore s", "refine s", "label s", "train s", "decision",
          "basis", "rho(g,dF)", "spot F meV/Å"]
TIME_STAGES = ("explore", "refine", "label", "train")


def _fmt(value, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec) if spec else str(value)


def _mev(value: float | None) -> str:
    return "-" if value is None else f"{1000 * value:.2f}"


def _errors(val: RmseMetrics | None) -> list[str]:
    """The E and F cells (meV) of a fit's held-out errors."""
    return [_mev(None if val is None else val.energy_rmse_per_atom), _mev(None if val is None else val.force_rmse)]


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def explorations_cell(rec: IterationRecord, n_conditions: int | None = None) -> str:
    """'halted/ran through', plus how many conditions have not reported yet (running or queued)."""
    n_halted = len(rec.halted_conditions)
    cell = f"{n_halted}/{len(rec.conditions) - n_halted}"
    if n_conditions is not None and len(rec.conditions) < n_conditions:
        cell += f" +{n_conditions - len(rec.conditions)}"
    return cell


def iteration_row(rec: IterationRecord, n_conditions: int | None = None) -> list[str]:
    times = stage_times(rec.timings_s)
    return [
        f"{rec.iteration:03d}",
        explorations_cell(rec, n_conditions),
        _fmt(rec.halt_step),
        _fmt(rec.max_gamma, ".2f"),
        _fmt(rec.n_candidates), _fmt(rec.n_selected), _fmt(rec.n_labelled), _fmt(rec.n_failed),
        _fmt(rec.dataset_size),
        *_errors(rec.validation),
        *(_secs(times[s]) for s in TIME_STAGES),
        rec.action.value if rec.action else "-",
        _fmt(rec.n_functions), _fmt(rec.spearman, ".2f"), _spot(rec.spot_check),
    ]


def _spot(s: SpotCheckResult | None) -> str:
    """Spot-check force RMSE (an iteration's frames, or the final fit's fresh ones) and the verdict."""
    if s is None or s.force_rmse is None:
        return "-"
    return f"{1000 * s.force_rmse:.2f} {'ok' if s.passed else 'FAIL'}"


def initial_row(initial: InitialSummary, times: InitialTimes | None = None) -> list[str]:
    times = times or InitialTimes()
    return ["init", "-", "-", "-", "-", _fmt(initial.n_selected), _fmt(initial.n_labelled),
            _fmt(initial.n_failed), _fmt(initial.dataset_size), *_errors(initial.validation),
            "-", "-", _secs(times.label), _secs(times.train), "-",
            _fmt(initial.n_functions), "-", "-"]


FINAL_FIT_DECISIONS = {"shipped": "shipped", "failed": "failed, kept earlier", "kept_earlier": "kept earlier",
                       "rejected": "rejected, kept earlier"}


def final_fit_row(final_fit: FinalFitSummary) -> list[str]:
    """The fit after the loop (trainer.ladder.final_rungs): same labels, larger bases allowed. Its
    decision cell says whether it ships (the `ship` checkpoint), its spot F is on the fresh frames."""
    functions = _fmt(final_fit.n_functions) + (" (kept)" if final_fit.kept_previous else "")
    decision = FINAL_FIT_DECISIONS.get(final_fit.outcome, "-")
    return ["final fit", "-", "-", "-", "-", "-", "-", "-", _fmt(final_fit.dataset_size),
            *_errors(final_fit.validation),
            "-", "-", "-", _secs(final_fit.train_s), decision, functions, "-", _spot(final_fit.spot_check)]


def status_rows(state: WorkflowState, n_conditions: int | None = None,
                initial_times: InitialTimes | None = None) -> tuple[list[str], list[list[str]]]:
    """The table as cells: (header, rows), the initial data first (shared with the HTML report)."""
    rows = []
    if state.initial is not None:
        rows.append(initial_row(state.initial, initial_times))
    rows += [iteration_row(rec, n_conditions) for rec in state.history]
    if state.final_fit is not None:
        rows.append(final_fit_row(state.final_fit))
    return list(HEADER), rows


KIND_NOTE = ("held-out error per portfolio kind: force RMSE meV/Å (energy RMSE meV/atom) on oracle MD of that "
             "kind, frames no selection or fit used; worst: the kind with the largest force RMSE")


def _kind_cell(m: RmseMetrics | None) -> str:
    if m is None or m.force_rmse is None:
        return "-"
    return f"{1000 * m.force_rmse:.1f} ({1000 * m.energy_rmse_per_atom:.1f})"


def kind_rows(state: WorkflowState) -> tuple[list[str], list[list[str]]]:
    """Held-out errors per portfolio kind, one row per fitted potential (the initial fit, every
    iteration, the final fit), one column per kind plus the whole set and the worst kind; ([], [])
    when no held-out frame carries a kind."""
    stages: list[tuple[str, RmseMetrics | None]] = []
    if state.initial is not None:
        stages.append(("init", state.initial.validation))
    stages += [(f"{rec.iteration:03d}", rec.validation) for rec in state.history]
    if state.final_fit is not None:
        stages.append(("final fit", state.final_fit.validation))
    kinds: list[str] = []
    for _, val in stages:
        for kind in (val.by_kind if val is not None else None) or {}:
            if kind not in kinds:
                kinds.append(kind)
    if not kinds:
        return [], []
    rows = []
    for label, val in stages:
        by_kind = (val.by_kind if val is not None else None) or {}
        if not by_kind:
            continue
        worst = max(by_kind, key=lambda k: by_kind[k].force_rmse)
        rows.append([label, _kind_cell(val), f"{worst} {1000 * by_kind[worst].force_rmse:.1f}",
                     *(_kind_cell(by_kind.get(k)) for k in kinds)])
    return ["stage", "all", "worst", *kinds], rows


def render(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.rjust(w) for c, w in zip(cells, widths)).rstrip()

    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]


def summary_lines(state: WorkflowState) -> list[str]:
    out = [f"status: {state.status.value}  iteration: {state.iteration}  potential: {state.current_potential or '-'}"]
    if state.message:
        out.append(f"        {state.message}")
    initial = state.initial or InitialSummary()
    labels = [initial.n_labelled] + [r.n_labelled for r in state.history]
    n_labels = sum(x for x in labels if x)
    failed = sum(x for x in [initial.n_failed] + [r.n_failed for r in state.history] if x)
    out.append(f"labels: {n_labels} labelled, {failed} failed; updated {state.updated_at or '-'}")
    if state.levels:  # two-level labelling: each level's labels and cost
        out.append("labels by level: " + "; ".join(
            f"{v.level} {v.n_labelled} labelled, {v.n_failed} failed, {_secs(v.wall_time_s)} s in {v.n_jobs} job(s)"
            for v in state.levels))
    noise = label_noise_line(state.label_noise)
    if noise:
        out.append(noise)
    out += [f"WARNING: {w}" for w in state.warnings]
    props = property_summary_line(state.properties)
    if props:
        out.append(props)
    out += shipped_lines(state.shipped)
    return out


def label_noise_line(noise: LabelNoiseSummary | None) -> str:
    """'label noise: ...' for the status (the check's one-line message; '' before the check)."""
    if noise is None:
        return ""
    if not noise.applicable or noise.stopped:  # a stop's message is the status message
        return ""
    return noise.message


def format_status(state: WorkflowState, as_json: bool = False, workdir: str | Path | None = None,
                  rcfg=None) -> str:
    """The status table. With `workdir` (the run directory) it also shows the initial stage's
    wall times and, if the run's config is found (or `rcfg` given), the conditions not reported
    yet and the jobs a rerun starts with."""
    if as_json:
        return json.dumps(state.model_dump(mode="json"), indent=2)
    n_conditions, resume, init_times, budget = None, None, None, None
    if workdir is not None:
        init_times = initial_stage_times(workdir)
        if rcfg is None:
            from .data import load_run_config

            try:
                rcfg = load_run_config(workdir)
            except Exception:  # noqa: BLE001 - the table must print even with a broken config
                rcfg = None
        if rcfg is not None:
            from ..plan import build_plan

            from ..loop.oracle_budget import budget_line, oracle_budget

            n_conditions = len(rcfg.cfg.exploration.conditions)
            plan = build_plan(rcfg, workdir)
            resume = None if plan.finished else plan.resume
            budget = budget_line(oracle_budget(rcfg, workdir, plan))
    header, rows = status_rows(state, n_conditions, init_times)
    out = summary_lines(state)
    if init_times is not None and init_times.setup is not None:
        out.append(f"initial data: setup (structures, reference energies, validation set) {init_times.setup:.1f} s")
    if resume:
        out.append(f"next: {resume}")
    if budget:
        out.append(budget)
    out += [""] + render(header, rows)
    out += ["", "halted/ran: exploration conditions that halted / ran their budget (+N: not finished yet); "
            "halt step: earliest halt; times: seconds summed over the stage's Snakemake jobs"]
    k_header, k_rows = kind_rows(state)
    if k_rows:
        out += ["", *render(k_header, k_rows), "", KIND_NOTE]
    return "\n".join(out)
