"""The oracle's time budget: what the labels have cost so far and what the rest of the run will.

With DFT the oracle is nearly all of a run's time (a pw.x label takes minutes, everything else
seconds), so the question a user asks is "how long until it ends?". The answer comes from the
run's own measurements: every label job records its oracle wall time and how many calculations it
ran now (`LabelChunkRecord`), the label-noise check records one label at the configured settings
before any label job ran. The cost per calculation is their ratio; the calculations still to come
are counted from the plan (label jobs not done yet, `selection.n_select` per iteration that may
still run, the spot checks); their product is the projection, as a range because the checkpoints
decide how many iterations run. Times are summed over jobs: with several label jobs at once the
wall time is shorter by that factor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core import layout as L
from ..core.io import read_json
from ..domain_models.property_files import PropertyLabelChunkRecord
from ..domain_models.records import LabelChunkRecord, LabelNoiseRecord


@dataclass
class OracleBudget:
    spent_s: float  # oracle wall time of the calculations run so far (label jobs + the label-noise check)
    n_computed: int  # oracle calculations run so far (cache hits excluded)
    per_label_s: float | None  # measured cost of one calculation (None: nothing measured yet)
    per_label_from: str  # where per_label_s comes from
    remaining_min: int  # calculations still to come if the current iteration's checkpoint ends the loop
    remaining_max: int  # ... if every iteration up to max_cycles runs

    def projected_s(self) -> tuple[float, float] | None:
        if self.per_label_s is None:
            return None
        return self.remaining_min * self.per_label_s, self.remaining_max * self.per_label_s


def _records(workdir: Path, pattern: str, model=LabelChunkRecord) -> list[LabelChunkRecord | PropertyLabelChunkRecord]:
    out = []
    for path in sorted(workdir.glob(pattern)):
        try:
            out.append(model.model_validate(read_json(path)))
        except (ValueError, OSError):  # a foreign or older file: the budget is an estimate anyway
            continue
    return out


def spent(workdir: str | Path) -> tuple[float, int, float | None, str]:
    """(oracle seconds so far, calculations so far, seconds per calculation or None, its source)."""
    workdir = Path(workdir)
    chunks = (_records(workdir, L.label_job("*", "*", "json"))
              + _records(workdir, L.property_label_job("*", "*", "json"), PropertyLabelChunkRecord))
    seconds = sum(r.wall_time_s for r in chunks if r.n_computed_now)
    n = sum(r.n_computed_now for r in chunks)
    noise = None
    for path in (workdir / L.LABEL_NOISE, workdir / L.LABEL_NOISE_ATTEMPT):
        if path.is_file():
            try:
                noise = LabelNoiseRecord.model_validate(read_json(path))
                break
            except ValueError:
                continue
    if noise is not None and noise.applicable:
        seconds += noise.oracle_wall_time_s
    if n:
        return seconds, n, seconds_per(chunks), f"{n} calculations of the label jobs"
    if noise is not None and noise.applicable and noise.base_wall_time_s > 0:
        return seconds, 0, noise.base_wall_time_s, "the label-noise check's label at the configured settings"
    return seconds, 0, None, "nothing measured yet"


def seconds_per(chunks: list[LabelChunkRecord | PropertyLabelChunkRecord]) -> float:
    """Seconds per calculation of the label jobs that computed something (cache hits cost nothing)."""
    ran = [r for r in chunks if r.n_computed_now]
    return sum(r.wall_time_s for r in ran) / sum(r.n_computed_now for r in ran)


def remaining_calculations(rcfg, plan) -> tuple[int, int]:
    """(fewest, most) oracle calculations still to come: the structures of label jobs not done yet
    (capped by the stage's structure count), plus, at most, `n_select` per iteration that may still
    run and the spot checks."""
    cfg = rcfg.cfg
    per_job = cfg.labeling.structures_per_job
    known = 0
    for stage in plan.stages:
        missing = stage.missing().get("label", 0) if stage.state != "done" else 0
        if missing:
            size = cfg.n_initial_structures() if stage.stage == L.INITIAL else cfg.expensive_per_iteration()
            known += min(missing * per_job, size)
    n_future = 0 if plan.future_first is None else plan.future_last - plan.future_first + 1
    most = known + n_future * cfg.expensive_per_iteration() + (cfg.convergence.spot_checks if not plan.finished else 0)
    return known, most


def oracle_budget(rcfg, workdir: str | Path, plan) -> OracleBudget:
    seconds, n, per_label, source = spent(workdir)
    lo, hi = remaining_calculations(rcfg, plan)
    return OracleBudget(spent_s=seconds, n_computed=n, per_label_s=per_label, per_label_from=source,
                        remaining_min=lo, remaining_max=hi)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def budget_line(budget: OracleBudget) -> str:
    """One line: oracle time so far and the projection to the end."""
    head = f"oracle: {_duration(budget.spent_s)} so far ({budget.n_computed} labels computed)"
    if budget.per_label_s is None:
        return f"{head}; {budget.remaining_min}-{budget.remaining_max} calculations to come, cost not measured yet"
    if budget.remaining_max == 0:
        return f"{head}, {budget.per_label_s:.1f} s per calculation; none to come"
    lo, hi = budget.projected_s()
    return (f"{head}, {budget.per_label_s:.1f} s per calculation ({budget.per_label_from}); to the end: "
            f"{budget.remaining_min}-{budget.remaining_max} calculations, {_duration(lo)}-{_duration(hi)} of "
            f"oracle time (summed over jobs)")
