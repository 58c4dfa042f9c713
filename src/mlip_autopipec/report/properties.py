"""The report's property section: the final potential's table (potential, oracle, error, ok, and the
external reference when configured) and a figure of each property's error relative to its
tolerance, over iterations when `properties.every` computed them for several potentials."""

from __future__ import annotations

from pathlib import Path

from ..core import layout as L
from ..domain_models.property_records import PropertyRecord, read_property_records
from .plots import new_figure, placeholder

HEADER = ["property", "unit", "potential", "oracle", "error", "tolerance", "ok", "reference"]


def property_runs(workdir: str | Path) -> list[tuple[str, list[PropertyRecord]]]:
    """(stage, records) of every potential whose properties were computed, in loop order."""
    runs = []
    for path in Path(workdir).glob(L.stage_properties("*")):
        stage = path.parent.parent.name
        n = L.iteration_of_stage(stage)
        runs.append(((-1 if n is None else n), stage, read_property_records(path)))
    return [(stage, recs) for _, stage, recs in sorted(runs)]


def final_records(workdir: str | Path) -> list[PropertyRecord] | None:
    path = Path(workdir) / L.FINAL_PROPERTIES
    return read_property_records(path) if path.is_file() else None


def _g(x, spec="{:.4g}") -> str:
    return "-" if x is None else spec.format(x)


def table_rows(records: list[PropertyRecord]) -> list[list[str]]:
    rows = []
    for r in records:
        if r.error:
            rows.append([r.name, "", "-", "-", r.error, "", "no", ""])
            continue
        kind = r.tolerance_kind or "rel"
        if kind == "consistency":  # each side against itself (B from the Cij against the EOS B0)
            pct = lambda x: _g(x if x is None else 100 * x, "{:.2f} %")  # noqa: E731
            note = f"skipped ({r.skipped})" if r.skipped else "each side: |B(Cij) - B(EOS)| / B(EOS)"
            rows.append([r.name, "", pct(r.potential), pct(r.oracle), note,
                         "≤ " + pct(r.tolerance), "yes" if r.ok else "NO", ""])
            continue
        if kind == "rel":
            err, tol = _g(r.rel_error and 100 * r.rel_error, "{:.2f} %"), _g(100 * r.tolerance, "{:.3g} %")
        elif kind == "abs":
            err, tol = _g(r.abs_error), _g(r.tolerance)
        else:
            err, tol = "", ("≤ " if kind == "max" else "≥ ") + _g(r.tolerance)
        if r.skipped:
            err = f"not judged ({r.skipped})"
        rows.append([r.name, r.unit or "", _g(r.potential), _g(r.oracle), err, tol,
                     "yes" if r.ok else "NO", _g(r.reference)])
    return rows


def _ratio(r: PropertyRecord) -> float | None:
    """Error as a fraction of the tolerance (1 = at the limit)."""
    kind = r.tolerance_kind
    if r.error or r.skipped or not r.tolerance:
        return None
    if kind == "rel" and r.rel_error is not None:
        return r.rel_error / r.tolerance
    if kind == "abs" and r.abs_error is not None:
        return r.abs_error / r.tolerance
    if kind == "max" and r.potential is not None:
        return r.potential / r.tolerance
    if kind == "consistency":
        sides = [v / r.side_tolerance(k) for k, v in (("oracle", r.oracle), ("potential", r.potential))
                 if v is not None]
        return max(sides) if sides else None
    return None


def properties_figure(runs: list[tuple[str, list[PropertyRecord]]]):
    if not runs:
        return placeholder("Properties", "no properties computed (properties.enabled: false, or not yet)")
    fig = new_figure(7.0, 4.0)
    ax = fig.add_subplot()
    if len(runs) == 1:
        stage, recs = runs[0]
        pts = [(r.name, _ratio(r)) for r in recs if _ratio(r) is not None]
        ax.barh([p[0] for p in pts], [p[1] for p in pts],
                color=["#55A868" if p[1] <= 1 else "#C44E52" for p in pts])
        ax.axvline(1.0, color="k", ls="--", lw=1)
        ax.invert_yaxis()
        ax.set_xlabel(f"error / tolerance ({stage}; dashed: the tolerance)")
    else:
        names = list(dict.fromkeys(r.name for _, recs in runs for r in recs))
        x = list(range(len(runs)))
        for name in names:
            y = [next((_ratio(r) for r in recs if r.name == name), None) for _, recs in runs]
            ax.plot(x, [float("nan") if v is None else v for v in y], marker="o", label=name)
        ax.axhline(1.0, color="k", ls="--", lw=1)
        ax.set_xticks(x, [s for s, _ in runs], rotation=30)
        ax.set_ylabel("error / tolerance")
        ax.set_yscale("log")
        ax.legend(fontsize=7, ncol=2)
    return fig


CAPTION = ("Each property computed with the potential and with the oracle on identical structures; bars: "
           "the potential's error as a fraction of its tolerance (green within, red outside; MD and phonon "
           "rows are potential-only bounds). With properties.every, one line per property over the "
           "potentials of the loop.")
