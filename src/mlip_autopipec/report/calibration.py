"""gamma_calibration.png: does the extrapolation grade rank the real errors?

Every fit records, for the structures labelled in its stage, the gamma the previous potential gave
them and that potential's error against the new labels (`prior` in train.json, from
steps/prior_errors.py). Plotted per iteration: max gamma of each structure against its force RMSE,
with the Spearman rank correlation (per atom: per-atom gamma against per-atom force error). A
positive correlation is what justifies selecting and halting by gamma at all; where the errors of
structures with gamma below `gamma_select` are already at the level you need, a higher threshold
would spend fewer labels, and the reverse.
"""

from __future__ import annotations

from pathlib import Path

from ..core import layout as L
from ..domain_models.records import TrainRecord, read_record


def calibration_data(workdir: str | Path) -> list[dict]:
    """[{stage, max_gamma: [...], force_rmse: [...], spot: [...], spearman_atoms, spearman_structures}]"""
    workdir = Path(workdir)
    out = []
    for record_file in sorted(workdir.glob(L.train_record(L.iter_dir("*")))):
        try:
            prior = read_record(TrainRecord, record_file).prior
        except (OSError, ValueError):  # unreadable or not a train record (pydantic's ValidationError is a ValueError)
            continue
        rows = [p for p in (prior.per_structure if prior else []) if p.max_gamma is not None]
        if not rows:
            continue
        out.append({
            "stage": record_file.parent.name,
            "max_gamma": [p.max_gamma for p in rows],
            "force_rmse": [p.force_rmse for p in rows],
            "spot": [p.spot_check for p in rows],
            "spearman_atoms": prior.spearman_atoms,
            "spearman_structures": prior.spearman_structures,
        })
    return out


def calibration_figure(data: list[dict], gamma_select: float | None = None, gamma_halt: float | None = None):
    from matplotlib import colormaps

    from .plots import new_figure, placeholder

    if not data:
        return placeholder("Gamma calibration", "no iteration has labelled structures scored by an earlier "
                                                "potential with an active set yet")
    fig = new_figure(7.0, 4.2)
    ax = fig.add_subplot()
    cmap = colormaps["viridis"]
    for k, d in enumerate(data):
        color = cmap(k / max(1, len(data) - 1))
        rho = d["spearman_atoms"]
        label = f"{d['stage']} (rho {rho:.2f})" if rho is not None else d["stage"]
        xs = [g for g, s in zip(d["max_gamma"], d["spot"]) if not s]
        ys = [1000 * f for f, s in zip(d["force_rmse"], d["spot"]) if not s]
        ax.scatter(xs, ys, color=color, s=22, label=label)
        xs = [g for g, s in zip(d["max_gamma"], d["spot"]) if s]
        ys = [1000 * f for f, s in zip(d["force_rmse"], d["spot"]) if s]
        if xs:
            ax.scatter(xs, ys, color=color, s=40, marker="*", edgecolor="k", linewidth=0.5)
    for value, style in ((gamma_select, ":"), (gamma_halt, "--")):
        if value is not None:
            ax.axvline(value, color="0.4", linestyle=style, linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("max gamma of the previous potential")
    ax.set_ylabel("its force RMSE on the new label, meV/Å")
    ax.set_title("Gamma calibration (stars: spot checks; rho: Spearman, per atom)")
    ax.legend(fontsize=7, ncol=2)
    return fig


def caption(data: list[dict]) -> str:
    rhos = ", ".join(f"{d['stage']}: {d['spearman_atoms']:.2f}" for d in data if d["spearman_atoms"] is not None)
    return ("For the structures labelled in each iteration: the max extrapolation grade the previous "
            "potential gave them against its force RMSE on the new label (stars: spot checks; dotted: "
            "gamma_select, dashed: gamma_halt). Spearman rank correlation of per-atom gamma with per-atom "
            f"force error: {rhos or '-'}. A positive rank correlation is what selecting and halting by "
            "gamma relies on.")



