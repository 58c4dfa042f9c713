"""The checkpoint's stop decision: a pure function of this iteration's explorations and history.

Improvement is defined as the exploration reaching further before halting: the mean, over
conditions, of the share of the MD budget run before the halt (1.0 for a run that went through).
An iteration improves when that share exceeds the best of all earlier iterations by more than
`MIN_IMPROVEMENT`; `patience` consecutive iterations without improvement stop the loop.
"""

from __future__ import annotations

import logging
from typing import Sequence

from ..domain_models.state import Action, ConditionResult, Decision

log = logging.getLogger(__name__)

MIN_IMPROVEMENT = 1e-9  # any strictly longer exploration counts


def mean_progress(conditions: Sequence[ConditionResult]) -> float:
    return sum(c.progress for c in conditions) / len(conditions)


def decide(
    iteration: int,
    conditions: Sequence[ConditionResult],
    previous: Sequence[Decision],
    max_cycles: int,
    patience: int,
) -> Decision:
    """Decide whether iteration `iteration + 1` runs.

    `previous` holds the decisions of iterations 0..iteration-1, in order. The cap is checked
    before moving on, so the last iteration ever run is `max_cycles - 1`.
    """
    if not conditions:
        raise ValueError("an iteration needs at least one exploration result")
    if len(previous) != iteration:
        raise ValueError(f"iteration {iteration} needs {iteration} earlier decisions, got {len(previous)}")

    progress = mean_progress(conditions)
    best_before = max((d.progress for d in previous), default=None)
    improved = best_before is None or progress > best_before + MIN_IMPROVEMENT
    stale = 0 if improved else (previous[-1].iterations_without_improvement + 1 if previous else 1)
    halted = [c.condition for c in conditions if c.halted]

    if not halted:
        action = Action.CONVERGED
        reason = f"all {len(conditions)} exploration(s) ran their full budget without halting"
    elif iteration + 1 >= max_cycles:
        action = Action.STOP_MAX_CYCLES
        reason = f"reached max_cycles={max_cycles} with {len(halted)} exploration(s) still halting"
    elif stale >= patience:
        action = Action.STOP_PATIENCE
        reason = (
            f"{stale} iteration(s) without improvement (best progress {best_before:.3f}, "
            f"now {progress:.3f}) >= patience={patience}"
        )
    else:
        action = Action.CONTINUE
        reason = f"halted in {', '.join(halted)}; progress {progress:.3f}" + (
            "" if best_before is None else f" (best before {best_before:.3f})"
        )
    decision = Decision(
        iteration=iteration,
        action=action,
        reason=reason,
        progress=progress,
        best_progress_before=best_before,
        iterations_without_improvement=stale,
        conditions=list(conditions),
    )
    log.info("iteration %d: %s (%s)", iteration, action.value, reason)
    return decision
