"""The checkpoint's stop decision: a pure function of this iteration's explorations and history.

Improvement is defined as the exploration reaching further before halting: the mean, over
conditions, of the share of the MD budget run before the halt (1.0 for a run that went through).
An iteration improves when that share exceeds the best of all earlier iterations by more than
`MIN_IMPROVEMENT`; `patience` consecutive iterations without improvement stop the loop.

Gamma-convergence (no exploration halted) is not accuracy. With `spot_checks` > 0 it orders spot
checks instead of ending: the next stage labels frames sampled from these explorations (they are
that iteration's selection, so the usual label and train steps run), the fit records the previous
potential's errors on them, and the next gamma-converged iteration ends the loop only if those
errors are within the tolerances; otherwise it spot-checks again, the failed frames having joined
the training set. Opt-in, spot checks have their own patience (`spot_check_patience`): when that many
failed checks in a row do not beat the best earlier one (by how far they are from passing), the fit
has reached an accuracy floor above the tolerance and the loop stops instead of running to max_cycles
(measured: Al with the Cu settings runs through at ~13 meV/Å against a 3 meV/Å tolerance, every check).
"""

from __future__ import annotations

import logging
from typing import Sequence

from ..domain_models.property_records import PropertyRecord
from ..domain_models.state import Action, ConditionResult, Decision, SpotCheckResult
from ..domain_models.records import PriorErrors, SpotCheckErrors
from ..core.layout import potential_stage_for
from .property_gate import gate_on_properties

log = logging.getLogger(__name__)

MIN_IMPROVEMENT = 1e-9  # any strictly longer exploration counts


def mean_progress(conditions: Sequence[ConditionResult]) -> float:
    return sum(c.progress for c in conditions) / len(conditions)


def spot_check_result(iteration: int, errors: SpotCheckErrors | PriorErrors | None, force_tolerance: float,
                      energy_tolerance: float, kind_force_tolerance: float | None = None) -> SpotCheckResult | None:
    """The typed verdict on spot-check errors: those a fit recorded (`prior.spot_check` of train.json),
    or all of a `prior_errors` on spot-check frames (the final check): the whole set within the
    tolerances and, with `kind_force_tolerance`, every kind's forces within it."""
    if errors is None or not errors.n_structures:
        return None
    f, e = errors.force_rmse, errors.energy_rmse_per_atom
    by_kind = dict(errors.force_rmse_by_group or {})
    passed = (f is None or f <= force_tolerance) and (e is None or e <= energy_tolerance)
    if kind_force_tolerance is not None:
        passed = passed and all(v <= kind_force_tolerance for v in by_kind.values())
    return SpotCheckResult(iteration=iteration, n_structures=errors.n_structures, force_rmse=f,
                           energy_rmse_per_atom=e, force_tolerance=force_tolerance,
                           energy_tolerance=energy_tolerance, force_rmse_by_kind=by_kind,
                           kind_force_tolerance=kind_force_tolerance, passed=passed)


def spot_check_excess(r: SpotCheckResult, judged_by: SpotCheckResult | None = None) -> float:
    """How far a spot check is from passing: the larger of error / tolerance over forces and
    energies (<= 1 passes), so one number orders checks that fail on either. The tolerances are
    those of `judged_by` (default: its own), so checks recorded under other tolerances compare."""
    tol = judged_by or r
    worst = r.worst_kind()
    ratios = [value / t for value, t in ((r.force_rmse, tol.force_tolerance),
                                         (r.energy_rmse_per_atom, tol.energy_tolerance),
                                         (worst[1] if worst else None, tol.kind_force_tolerance))
              if value is not None and t is not None and t > 0]
    return max(ratios, default=0.0)


def spot_checks_without_improvement(previous: Sequence[Decision], current: SpotCheckResult) -> int:
    """Spot checks since the best one so far, `current` included (0: `current` is the best; a tie
    is no improvement)."""
    results = [d.spot_check_result for d in previous if d.spot_check_result is not None] + [current]
    excess = [spot_check_excess(r, judged_by=current) for r in results]
    best = min(range(len(excess)), key=lambda i: (excess[i], i))
    return len(results) - 1 - best


def with_tolerances(r: SpotCheckResult, force_tolerance: float, energy_tolerance: float,
                    kind_force_tolerance: float | None = None) -> SpotCheckResult:
    """The same errors judged against (possibly changed) tolerances."""
    return spot_check_result(r.iteration, SpotCheckErrors(n_structures=r.n_structures, force_rmse=r.force_rmse,
                                                          energy_rmse_per_atom=r.energy_rmse_per_atom,
                                                          force_rmse_by_group=r.force_rmse_by_kind),
                             force_tolerance, energy_tolerance, kind_force_tolerance)


def _spot_text(r: SpotCheckResult) -> str:
    def mev(x):
        return "-" if x is None else f"{1000 * x:.2f}"
    # the frames labelled in iteration k were scored with the potential that explored it (k-1's fit)
    return (f"spot checks of iteration {r.iteration} ({r.n_structures} frames, scored with "
            f"{potential_stage_for(r.iteration)}/): F {mev(r.force_rmse)} meV/Å "
            f"(tolerance {mev(r.force_tolerance)}), E {mev(r.energy_rmse_per_atom)} meV/atom "
            f"(tolerance {mev(r.energy_tolerance)})" + _worst_kind_text(r))


def _worst_kind_text(r: SpotCheckResult) -> str:
    worst = r.worst_kind()
    if worst is None or r.kind_force_tolerance is None:
        return ""
    return (f", worst kind {worst[0]} F {1000 * worst[1]:.2f} meV/Å "
            f"(tolerance {1000 * r.kind_force_tolerance:.2f})")


def decide(
    iteration: int,
    conditions: Sequence[ConditionResult],
    previous: Sequence[Decision],
    max_cycles: int,
    patience: int,
    spot_checks: int = 0,
    last_spot_check: SpotCheckResult | None = None,
    spot_check_patience: int | None = None,
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

    spot_check = False
    used_result = None
    if not halted:
        action = Action.CONVERGED
        reason = f"all {len(conditions)} exploration(s) ran their full budget without halting"
        checked = bool(previous) and previous[-1].spot_check
        if spot_checks > 0 and checked and last_spot_check is None:
            reason += "; no spot-check frame could be labelled, accuracy not verified"
        elif spot_checks > 0 and checked and last_spot_check.passed:
            used_result = last_spot_check
            reason += f"; {_spot_text(last_spot_check)} passed"
        elif spot_checks > 0:
            used_result = last_spot_check if checked else None
            failed = f"; {_spot_text(last_spot_check)} failed" if used_result else ""
            stale_checks = 0 if used_result is None else spot_checks_without_improvement(previous, used_result)
            if iteration + 1 >= max_cycles:
                action = Action.STOP_MAX_CYCLES
                reason += f"{failed}; reached max_cycles={max_cycles} before spot checks passed"
            elif spot_check_patience is not None and stale_checks >= spot_check_patience:
                action = Action.STOP_PATIENCE
                reason += (f"{failed}; {stale_checks} spot check(s) in a row without beating the best one >= "
                           f"spot_check_patience={spot_check_patience}: the fit's accuracy floor is above the "
                           "tolerance (a larger basis ladder or looser convergence.force_rmse / energy_rmse)")
            else:
                action = Action.CONTINUE
                spot_check = True
                reason += f"{failed}; spot-checking {spot_checks} sampled frame(s) against the oracle"
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
        spot_check=spot_check,
        spot_check_result=used_result,
    )
    log.info("iteration %d: %s (%s)", iteration, action.value, reason)
    return decision


def checkpoint(iteration: int, conditions: Sequence[ConditionResult], previous: Sequence[Decision], cfg,
               last_spot_check: SpotCheckResult | None,
               property_records: list[PropertyRecord] | None = None) -> Decision:
    """The gate's decision under config `cfg`: explorations and spot checks (`decide`), then the
    property gate on `property_records` (convergence.properties; None: off). The gate job and a
    rerun's re-decision of a finished run (loop_extension) both take it here, so they cannot drift."""
    conv = cfg.convergence
    decision = decide(iteration, conditions, previous, cfg.max_cycles, cfg.patience, conv.spot_checks,
                      last_spot_check, conv.spot_check_patience)
    if property_records is not None:
        decision = gate_on_properties(decision, property_records, cfg.max_cycles, cfg.patience)
    return decision
