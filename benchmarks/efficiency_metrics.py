"""What `label_efficiency.py` reports, as pure functions: where a learning curve first reaches a
force-RMSE target, the oracle calls of random frames from oracle-driven MD, and ratios that stay
honest when one strategy never reaches a target (then only a bound is known).

Kept apart from the benchmark (no numpy, no package imports) so a unit test can check the
arithmetic the headline numbers rest on without running a single fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class CurvePoint:
    """One fitted potential of a strategy: what it cost and how good it is."""

    labels: int  # labelled structures it was fitted on (initial set included)
    calls: int  # oracle calls spent to get there (labels, or MD steps of oracle-driven MD)
    force_rmse: float  # eV/Å on the held-out set


def first_reach(curve: Sequence[CurvePoint], target: float, key: str = "labels") -> int | None:
    """The cost (`labels` or `calls`) of the cheapest point at or below `target`; None if none is.

    Cheapest, not first in iteration order: a curve that dips below the target and rises again
    has still shown that the cost suffices (the loop keeps its best potential for the same reason).
    """
    costs = [getattr(p, key) for p in curve if p.force_rmse <= target]
    return min(costs) if costs else None


def md_calls(frames: Iterable[tuple[str, int]]) -> int:
    """Oracle calls of oracle-driven MD that yields these frames, given as (trajectory, step):
    every trajectory must run up to its latest frame used, each step one oracle call (as in AIMD);
    trajectories no frame is taken from cost nothing."""
    last: dict[str, int] = {}
    for trajectory, step in frames:
        last[trajectory] = max(step, last.get(trajectory, 0))
    return sum(last.values())


@dataclass(frozen=True)
class Ratio:
    """a / b, or an upper bound when b never reached the target (b needs more than it spent)."""

    value: float | None  # None: undefined (a did not reach the target)
    bound: bool = False  # True: the true ratio is below `value`

    def text(self, digits: int = 3) -> str:
        if self.value is None:
            return "-"
        return f"{'< ' if self.bound else ''}{self.value:.{digits}f}"


def cost_ratio(a: int | None, b: int | None, b_spent: int) -> Ratio:
    """Ratio of the costs of two strategies to reach one target; `b_spent` is the most b spent."""
    if a is None:
        return Ratio(None)
    if b is None:
        return Ratio(a / b_spent, bound=True)
    return Ratio(a / b)


def summarize(ratios: Sequence[Ratio]) -> tuple[Ratio, float | None, float | None]:
    """(mean, min, max) over seeds; the mean is a bound if any seed's value is; undefined (None)
    if any seed's is, since a mean over the seeds that happen to be defined would flatter."""
    if not ratios or any(r.value is None for r in ratios):
        return Ratio(None), None, None
    values = [r.value for r in ratios]
    return Ratio(sum(values) / len(values), bound=any(r.bound for r in ratios)), min(values), max(values)
