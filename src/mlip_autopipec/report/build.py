"""`mlip-runner report` and the `report` rule: the figures as PNGs and one self-contained HTML file
in `<run>/report/`. Works on a finished run and on one in progress (it shows what exists)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..core import layout as L
from ..core.io import write_text
from ..loop.state import derive_state
from . import data as D
from . import calibration as C
from . import plots as P
from .html import FigureEntry, render_report
from .table import KIND_NOTE, TIME_STAGES, kind_rows, status_rows, summary_lines

log = logging.getLogger(__name__)

FIGURES = {  # key -> (file name, title)
    "learning_curve": ("learning_curve.png", "Learning curve"),
    "halt_steps": ("halt_steps.png", "Steps reached before halt"),
    "gamma_traces": ("gamma_traces.png", "Gamma traces of the explorations"),
    "parity": ("parity.png", "Parity of the last potential"),
    "label_times": ("label_times.png", "Oracle time per label"),
    "stage_times": ("stage_times.png", "Wall time per stage"),
    "properties": ("properties.png", "Physical properties: potential against oracle"),
    "gamma_calibration": ("gamma_calibration.png", "Gamma calibration"),
}


SHIP_HEADER = ["potential", "functions", "spot F meV/Å", "spot E meV/atom", "spot checks", "MD max gamma",
               "MD bound", "verdict"]


def ship_section(workdir: Path) -> tuple[str, str] | None:
    """The check of the final fit against the loop's potential (final_check/ship.json), if any."""
    from html import escape

    from ..domain_models.ship import read_ship_or_none
    from .html import table_html

    ship = read_ship_or_none(workdir / L.SHIP_DECISION)
    if ship is None:
        return None

    def g(x, spec):
        return "-" if x is None else format(x, spec)

    rows = []
    for c in ship.checks:
        s = c.spot_check
        verdict = "ships" if c.stage == ship.shipped_stage else ("; ".join(c.failures) or "not shipped")
        f = None if s is None or s.force_rmse is None else 1000 * s.force_rmse
        e = None if s is None or s.energy_rmse_per_atom is None else 1000 * s.energy_rmse_per_atom
        rows.append([c.stage, g(c.n_functions, "d"), g(f, ".2f"), g(e, ".3f"),
                     "-" if s is None else ("ok" if s.passed else "FAIL"), g(c.md_max_gamma, ".2f"),
                     g(c.md_gamma_threshold, ".3g"), verdict])
    text = f"<p>{escape(ship.reason)}</p>" + table_html(SHIP_HEADER, rows)
    if ship.gamma_scale is not None:
        text += f"<p>Gamma scale of {escape(ship.gamma_scale.stage)}: {escape(ship.gamma_scale.reason)}</p>"
    return "Which potential ships (spot checks on fresh frames of the last exploration)", text


@dataclass
class ReportResult:
    html: Path
    pngs: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def _caption(key: str, state, curve: D.LearningCurve, parity: D.Parity, times: list[dict]) -> str:
    if key == "learning_curve":
        what = ("held-out set (validation)" if curve.kind == "validation"
                else "training set (no held-out set configured)")
        return (f"Force and energy RMSE of every fitted potential on the {what}, against the number "
                f"of labelled structures it was trained on; labels next to the points: the stage.")
    if key == "halt_steps":
        return ("MD steps each exploration condition reached per iteration before gamma exceeded "
                "gamma_halt; hatched bars ran their whole budget (dashed line). The loop converges "
                "when every condition runs through.")
    if key == "gamma_traces":
        return ("Max per-atom extrapolation grade along each exploration, one line per iteration "
                "(later iterations lighter); dotted: gamma_select, dashed: gamma_halt.")
    if key == "parity":
        pot = parity.potential or "-"
        return (f"Energies per atom and force components predicted by {pot} against the oracle, on its "
                f"training labels (grey, at most 300 structures) and the held-out set (red) if any.")
    if key == "label_times":
        return f"Oracle wall time of each of the {len(times)} calculations (failures in red)."
    if key == "properties":
        from .properties import CAPTION

        return CAPTION
    if key == "stage_times":
        return ("Seconds per stage and iteration from Snakemake's benchmark files, summed over the "
                "stage's jobs (parallel jobs overlap in real time).")
    return ""


def build_report(workdir: str | Path = ".", rcfg=None, out_html: str | Path | None = None,
                 with_parity: bool = True) -> ReportResult:
    """Write `report/*.png` and `report/report.html` for the run in `workdir`.

    `rcfg` (the run's config) is found in the run directory if not given; without one the gamma
    thresholds are not drawn and there is no parity plot (it needs the trainer to load the
    potential).
    """
    t0 = time.perf_counter()
    workdir = Path(workdir)
    if rcfg is None:
        rcfg = D.load_run_config(workdir)
    out_html = Path(out_html) if out_html else workdir / L.REPORT_HTML
    out_dir = out_html.parent
    state = derive_state(workdir)
    init_times = D.initial_stage_times(workdir)
    curve = D.learning_curve(state, workdir)
    records = D.exploration_records(workdir)
    times = D.label_times(workdir)
    calib = C.calibration_data(workdir)
    parity = D.Parity()
    if with_parity and rcfg is not None:
        try:
            parity = D.parity_data(state, workdir, rcfg)
        except Exception as exc:  # noqa: BLE001 - a report without parity beats no report
            log.warning("parity plot skipped: %s: %s", type(exc).__name__, exc)
    exp = rcfg.cfg.exploration if rcfg is not None else None
    figs = {
        "learning_curve": P.learning_curve_figure(curve),
        "halt_steps": P.halt_steps_figure(state),
        "gamma_traces": P.gamma_traces_figure(records, exp.gamma_select if exp else None,
                                              exp.gamma_halt if exp else None),
        "parity": P.parity_figure(parity) if rcfg is not None else
        P.placeholder("Parity", "needs the run's config (pass --config) to load the potential"),
        "label_times": P.label_time_figure(times),
        "stage_times": P.stage_times_figure(state, init_times),
        "gamma_calibration": C.calibration_figure(calib, exp.gamma_select if exp else None,
                                                  exp.gamma_halt if exp else None),
    }
    from . import properties as PR

    prop_runs = PR.property_runs(workdir)
    # the shipped potential's (the report does not wait for their copy in final/)
    shipped_stage = state.shipped.stage if state.shipped is not None else None
    prop_records = next((recs for stage, recs in prop_runs if stage == shipped_stage), None) \
        or PR.final_records(workdir)
    figs["properties"] = PR.properties_figure(prop_runs)
    result = ReportResult(html=out_html)
    entries = []
    for key, fig in figs.items():
        name, title = FIGURES[key]
        result.pngs[key] = P.save_png(fig, out_dir / name)
        text = C.caption(calib) if key == "gamma_calibration" else _caption(key, state, curve, parity, times)
        entries.append(FigureEntry(key, title, text, result.pngs[key]))

    n_conditions = len(rcfg.cfg.exploration.conditions) if rcfg is not None else None
    header, rows = status_rows(state, n_conditions, init_times)
    plan_text = config_text = None
    if rcfg is not None:
        from ..plan import format_plan

        plan_text = format_plan(rcfg, workdir)
        config_text = f"# {rcfg.path}\n" + Path(rcfg.path).read_text()
    summary = summary_lines(state)
    if init_times.setup is not None:
        summary.append(f"initial data: setup {init_times.setup:.1f} s")
    note = ("halted/ran: exploration conditions that halted / ran their budget (+N: not finished); "
            "E/F: validation RMSE; " + ", ".join(f"{s} s" for s in TIME_STAGES)
            + ": seconds summed over the stage's Snakemake jobs")
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    title = f"mlip-autopipec report: {workdir.resolve().name}"
    sections = []
    from html import escape

    from .html import table_html

    k_header, k_rows = kind_rows(state)
    if k_rows:
        sections.append(("Held-out error per portfolio kind", table_html(k_header, k_rows)
                         + f"<p><small>{escape(KIND_NOTE)}</small></p>"))

    ship = ship_section(workdir)
    if ship is not None:
        sections.append(ship)
    if prop_records:
        sections.append((f"Physical properties (the shipped potential, {shipped_stage or 'final'}/)",
                         table_html(PR.HEADER, PR.table_rows(prop_records))))
    write_text(out_html, render_report(title, summary, header, rows, note, entries, plan_text, config_text,
                                       generated, sections))
    result.seconds = time.perf_counter() - t0
    log.info("REPORT: %s with %d figures (%s) in %.1f s", out_html, len(result.pngs),
             ", ".join(p.name for p in result.pngs.values()), result.seconds)
    return result
