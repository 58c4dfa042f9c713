"""The report's figures, drawn with matplotlib's object API (no pyplot state, no display needed).

Each function takes the data gathered by `report/data.py` and returns a `Figure`; a figure whose
data does not exist yet (no validation set, nothing labelled so far) says so in words instead of
being left out, so the report always has the same sections.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..core.io import atomic_path
from ..domain_models.records import ExplorationRecord
from ..domain_models.state import WorkflowState
from .data import InitialTimes, LearningCurve, Parity

STAGE_COLORS = {"explore": "#4C72B0", "refine": "#DD8452", "label": "#55A868", "train": "#C44E52"}
DPI = 110


def new_figure(width: float = 7.0, height: float = 4.0) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def placeholder(title: str, text: str) -> Figure:
    fig = new_figure(6.0, 2.2)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=10, color="0.35",
            transform=ax.transAxes)
    return fig


def save_png(fig: Figure, path: str | Path) -> Path:
    """Write the figure as a PNG atomically (a reader never sees half an image)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def _label(stage: str) -> str:
    return "init" if stage == "initial" else stage.removeprefix("iter_").lstrip("0") or "0"


def _log_if_positive(ax, values) -> None:
    vals = [v for v in values if v is not None]
    if vals and min(vals) > 0 and max(vals) / min(vals) > 3:
        ax.set_yscale("log")


# -- learning curve ------------------------------------------------------------------------------
def learning_curve_figure(curve: LearningCurve) -> Figure:
    points = curve.points
    if not points:
        return placeholder("Learning curve", "no fitted potential with an error estimate yet\n"
                           "(set validation.n_generated or validation.file to score a held-out set)")
    kind = curve.kind
    x = [p.n_labels for p in points]
    fig = new_figure(8.0, 3.6)
    for i, (key, unit, title) in enumerate((("force_rmse", "meV/Å", "force RMSE"),
                                            ("energy_rmse_per_atom", "meV/atom", "energy RMSE"))):
        ax = fig.add_subplot(1, 2, i + 1)
        y = [None if getattr(p, key) is None else 1000 * getattr(p, key) for p in points]
        xs = [a for a, b in zip(x, y) if b is not None]
        ys = [b for b in y if b is not None]
        ax.plot(xs, ys, "o-", color="#4C72B0")
        for p, a, b in zip(points, x, y):
            if b is not None:
                ax.annotate(_label(p.stage), (a, b), textcoords="offset points", xytext=(4, 4), fontsize=8)
        _log_if_positive(ax, ys)
        ax.set_xlabel("labelled structures (training set size)")
        ax.set_ylabel(f"{kind} {title} ({unit})")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Learning curve ({'held-out set' if kind == 'validation' else 'training set: no held-out set configured'})")
    return fig


# -- explorations: steps before halt, gamma traces -----------------------------------------------
def halt_steps_figure(state: WorkflowState) -> Figure:
    recs = [r for r in state.history if r.conditions]
    if not recs:
        return placeholder("Steps before halt", "no exploration finished yet")
    fig = new_figure(7.0, 3.8)
    ax = fig.add_subplot()
    names = sorted({c.condition for r in recs for c in r.conditions})
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        xs, ys, halted = [], [], []
        for r in recs:
            for c in r.conditions:
                if c.condition == name:
                    xs.append(r.iteration + (k - (len(names) - 1) / 2) * width)
                    ys.append(c.steps_run)
                    halted.append(c.halted)
        bars = ax.bar(xs, ys, width=width * 0.95, label=name)
        for bar, h in zip(bars, halted):
            if not h:  # ran through its budget
                bar.set_hatch("//")
                bar.set_edgecolor("k")
    budgets = [(r.iteration, max(c.budget for c in r.conditions)) for r in recs]
    ax.step([b[0] - 0.5 for b in budgets] + [budgets[-1][0] + 0.5], [b[1] for b in budgets] + [budgets[-1][1]],
            where="post", color="k", linestyle="--", linewidth=1, label="budget")
    ax.set_xticks([r.iteration for r in recs])
    ax.set_xlabel("iteration")
    ax.set_ylabel("MD steps reached")
    ax.set_title("Steps reached before the halt (hatched: ran through the budget)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return fig


def gamma_traces_figure(records: dict[int, dict[str, ExplorationRecord]], gamma_select: float | None = None,
                        gamma_halt: float | None = None) -> Figure:
    conds = sorted({c for recs in records.values() for c in recs})
    if not conds:
        return placeholder("Gamma traces", "no exploration finished yet")
    ncols = 2 if len(conds) > 1 else 1
    nrows = math.ceil(len(conds) / ncols)
    fig = new_figure(4.2 * ncols + 0.8, 2.8 * nrows + 0.4)
    iterations = sorted(records)
    colors = mpl.colormaps["viridis"](np.linspace(0, 0.9, max(len(iterations), 1)))
    for k, cond in enumerate(conds):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        for color, n in zip(colors, iterations):
            rec = records[n].get(cond)
            if rec is None or not rec.gamma_trace:
                continue
            trace = np.asarray(rec.gamma_trace, dtype=float).reshape(-1, 2)
            finite = np.isfinite(trace[:, 1])
            ax.plot(trace[finite, 0], trace[finite, 1], "-", color=color, linewidth=1.2, label=f"iter {n}")
            if rec.halted:
                last = trace[finite][-1] if finite.any() else None
                if last is not None:
                    ax.plot([last[0]], [last[1]], "x" if finite.all() else "*", color=color, markersize=7)
        for level, style, name in ((gamma_select, ":", "gamma_select"), (gamma_halt, "--", "gamma_halt")):
            if level is not None:
                ax.axhline(level, color="0.3", linestyle=style, linewidth=1, label=name)
        ax.set_yscale("log")
        ax.set_title(cond, fontsize=10)
        ax.set_xlabel("MD step")
        ax.set_ylabel("max gamma")
        ax.grid(alpha=0.3)
        if k == 0:
            ax.legend(fontsize=7, ncols=2)
    fig.suptitle("Extrapolation grade during exploration (x: halt; *: unphysical)")
    return fig


# -- parity of the last potential ----------------------------------------------------------------
def _rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def parity_figure(parity: Parity) -> Figure:
    if not parity.potential:
        return placeholder("Parity", "no potential yet")
    sets = [(name, d, color) for name, d, color in (("training labels", parity.train, "0.6"),
                                                   ("held-out set", parity.held_out, "#C44E52"))
            if d is not None and d.n]
    if not sets:
        return placeholder("Parity", "no labelled structures to compare against")
    fig = new_figure(8.5, 4.0)
    for i, (key, scale, unit, title) in enumerate((("energy", 1.0, "eV/atom", "energy per atom"),
                                                   ("force", 1.0, "eV/Å", "force components"))):
        ax = fig.add_subplot(1, 2, i + 1)
        lo, hi = np.inf, -np.inf
        for name, d, color in sets:
            ref, pred = getattr(d, f"{key}_ref") * scale, getattr(d, f"{key}_pred") * scale
            rmse = _rmse(ref, pred) * 1000
            ax.scatter(ref, pred, s=6 if key == "force" else 14, alpha=0.6, color=color,
                       label=f"{name} (n={d.n}): RMSE {rmse:.2f} m{unit}")
            lo, hi = min(lo, ref.min(), pred.min()), max(hi, ref.max(), pred.max())
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k-", linewidth=0.8)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel(f"oracle {title} ({unit})")
        ax.set_ylabel(f"potential {title} ({unit})")
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Parity of the last potential ({parity.potential})")
    return fig


# -- oracle time and wall time -------------------------------------------------------------------
def label_time_figure(times: list[dict]) -> Figure:
    ok = [t for t in times if t["ok"] and np.isfinite(t["seconds"])]
    failed = [t for t in times if not t["ok"] and np.isfinite(t["seconds"])]
    if not ok and not failed:
        return placeholder("Oracle time per label", "no structure labelled yet")
    fig = new_figure(7.0, 3.6)
    ax = fig.add_subplot()
    values = [t["seconds"] for t in ok + failed]
    lo, hi = max(min(values), 1e-6), max(max(values), 1e-6)
    log_x = hi / lo > 50
    bins = np.geomspace(lo, hi * 1.0001, 30) if log_x else np.linspace(0, hi * 1.05, 30)
    groups = [("initial data", [t["seconds"] for t in ok if t["stage"] == "initial"], "#8172B3"),
              ("iterations", [t["seconds"] for t in ok if t["stage"] != "initial"], "#55A868"),
              ("failed", [t["seconds"] for t in failed], "#C44E52")]
    groups = [g for g in groups if g[1]]
    ax.hist([g[1] for g in groups], bins=bins, stacked=True, color=[g[2] for g in groups],
            label=[f"{g[0]} (n={len(g[1])})" for g in groups])
    if log_x:
        ax.set_xscale("log")
    total = sum(values)
    ax.set_xlabel("oracle wall time per structure (s)")
    ax.set_ylabel("structures")
    ax.set_title(f"Oracle time per label: {len(values)} calculations, {total:.1f} s in total, "
                 f"median {np.median(values):.3g} s", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def stage_times_figure(state: WorkflowState, initial_times: InitialTimes | None = None) -> Figure:
    from .data import stage_times

    rows = []
    it = initial_times
    if it is not None and any(v is not None for v in (it.setup, it.label, it.train)):
        rows.append(("init", {"explore": None, "refine": it.setup, "label": it.label, "train": it.train}))
    rows += [(f"{r.iteration}", stage_times(r.timings_s)) for r in state.history]
    if not rows:
        return placeholder("Wall time per stage", "no job finished yet")
    fig = new_figure(7.0, 3.6)
    ax = fig.add_subplot()
    bottom = np.zeros(len(rows))
    for stage, color in STAGE_COLORS.items():
        vals = np.array([t.get(stage) or 0.0 for _, t in rows])
        label = "setup / refine" if stage == "refine" and rows[0][0] == "init" else stage
        ax.bar(range(len(rows)), vals, bottom=bottom, color=color, label=label)
        bottom += vals
    ax.set_xticks(range(len(rows)), [name for name, _ in rows])
    ax.set_xlabel("iteration")
    ax.set_ylabel("job seconds (summed over the stage's jobs)")
    ax.set_title("Wall time per stage (Snakemake benchmark files)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig
