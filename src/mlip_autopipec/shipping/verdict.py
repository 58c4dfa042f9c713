"""The ship decision: a pure function of the final fit's record and the candidates' checks.

The final fit ships only if it exists as a fit of its own (it did not fail, keep-the-best did not
prefer the earlier fit) and passes the loop's end criteria itself, measured with it: its errors on
fresh spot-check frames within `convergence.force_rmse` / `energy_rmse`, and its MD stability run
complete, unexploded and with max gamma below the bound that applies to its basis
(shipping/gamma_scale.py). Otherwise the loop's potential ships, and the decision says why.
"""

from __future__ import annotations

from ..domain_models.records import TrainRecord
from ..domain_models.ship import GammaScale, PotentialCheck, ShipDecision
from ..domain_models.state import MdStabilitySummary, SpotCheckResult


def check_potential(stage: str, n_functions: int | None, spot: SpotCheckResult | None, spot_frames: list[dict],
                    md: MdStabilitySummary | None, md_bound: float | None) -> PotentialCheck:
    """One candidate under the end criteria; `md`: its MD stability run (None: not run)."""
    failures = []
    if spot is not None and not spot.passed:
        failures.append(f"spot checks F {1000 * (spot.force_rmse or 0):.2f} meV/Å, E "
                        f"{1000 * (spot.energy_rmse_per_atom or 0):.3f} meV/atom exceed the tolerances "
                        f"{1000 * spot.force_tolerance:.2f} meV/Å, {1000 * spot.energy_tolerance:.3f} meV/atom")
    check = PotentialCheck(stage=stage, n_functions=n_functions, spot_check=spot, spot_frames=spot_frames,
                           md_gamma_threshold=md_bound)
    if md is not None:
        check.md_max_gamma, check.md_exploded = md.max_gamma, md.exploded
        check.md_steps = (md.steps_run or 0, md.steps or 0)
        if check.md_exploded or check.md_steps[0] < check.md_steps[1]:
            failures.append(f"MD stability broke off at step {check.md_steps[0]} of {check.md_steps[1]}"
                            + (f" ({check.md_exploded})" if check.md_exploded else ""))
        if check.md_max_gamma is not None and md_bound is not None and check.md_max_gamma > md_bound:
            failures.append(f"MD stability max gamma {check.md_max_gamma:.3g} > {md_bound:.3g}")
    check.failures = failures
    return check


def final_fit_outcome(record: TrainRecord) -> tuple[str, str] | None:
    """("failed" | "kept_earlier", why) when the final fit is not a fit of its own, else None."""
    if record.kept_previous:
        return "failed", f"the final fit failed ({record.error or 'no reason recorded'})"
    ladder = record.fit.ladder if record.fit is not None else None
    keep = ladder.keep_best if ladder is not None else None
    if keep is not None and keep.kept_previous:
        prev, this = keep.previous_score, keep.score
        scores = "" if prev is None or this is None else (
            f" (held-out share score, F RMSE + weighted E RMSE: {prev:.3g} earlier against {this:.3g})")
        return "kept_earlier", f"keep-the-best preferred the earlier fit {keep.previous_stage or ''}{scores}"
    return None


def decide_ship(loop_stage: str, final_stage: str, record: TrainRecord, final_check: PotentialCheck | None,
                loop_check: PotentialCheck | None, scale: GammaScale | None) -> ShipDecision:
    """Ship `final_stage` if it is a fit of its own and `final_check` passed; else `loop_stage`."""
    checks = [c for c in (final_check, loop_check) if c is not None]
    outcome = final_fit_outcome(record)
    if outcome is not None:
        kind, why = outcome
        return ShipDecision(shipped_stage=loop_stage, loop_stage=loop_stage, final_fit=kind, checks=checks,
                            gamma_scale=scale, reason=f"{why}: the loop's potential {loop_stage}/ ships")
    if final_check is None:
        raise ValueError(f"{final_stage}: a final fit of its own needs its check")
    if final_check.passed:
        parts = []
        if final_check.spot_check is not None:
            s = final_check.spot_check
            parts.append(f"its spot checks ({s.n_structures} fresh frames) F {1000 * s.force_rmse:.2f} meV/Å, "
                         f"E {1000 * s.energy_rmse_per_atom:.3f} meV/atom are within tolerance")
        if final_check.md_max_gamma is not None:
            parts.append(f"its MD stability run reached max gamma {final_check.md_max_gamma:.3g} <= "
                         f"{final_check.md_gamma_threshold:.3g} (the bound calibrated for its basis)")
        return ShipDecision(shipped_stage=final_stage, loop_stage=loop_stage, final_fit="shipped", checks=checks,
                            gamma_scale=scale, reason=f"the final fit {final_stage}/ ships: "
                            + ("; ".join(parts) or "no end criterion applies (no spot checks, no MD stability run)"))
    return ShipDecision(shipped_stage=loop_stage, loop_stage=loop_stage, final_fit="rejected", checks=checks,
                        gamma_scale=scale, reason=f"the final fit {final_stage}/ failed the end criteria ("
                        + "; ".join(final_check.failures) + f"): the loop's potential {loop_stage}/ ships")
