"""The shipped potential in words: the same lines in the status, the report and final/README.txt."""

from __future__ import annotations

from ..domain_models.state import MdStabilitySummary, ShippedSummary


def shipped_lines(shipped: ShippedSummary | None) -> list[str]:
    """Which potential final/ ships, why, and the end criteria measured with it (spot checks, MD)."""
    if shipped is None:
        return []
    out = [f"shipped: {shipped.potential}: {shipped.reason}"]
    spot = shipped.spot_check
    if spot is not None and spot.force_rmse is not None:
        e = spot.energy_rmse_per_atom
        out.append(f"  spot checks of {shipped.stage}/ ({spot.n_structures} frames, "
                   f"{shipped.spot_check_frames or '-'}): F {1000 * spot.force_rmse:.2f} meV/Å "
                   f"(tolerance {1000 * spot.force_tolerance:.2f}), E {'-' if e is None else f'{1000 * e:.3f}'} "
                   f"meV/atom (tolerance {1000 * spot.energy_tolerance:.3f}): {'ok' if spot.passed else 'FAIL'}")
    md = shipped.md_stability
    if md is not None:
        out.append("  " + md_stability_text(shipped.stage, md))
    return out


def md_stability_text(stage: str, md: MdStabilitySummary) -> str:
    g, bound = md.max_gamma, md.gamma_threshold
    complete = not md.exploded and (md.steps_run or 0) >= (md.steps or 0)
    ok = complete and (g is None or bound is None or g <= bound)
    gamma = "-" if g is None else f"{g:.2f}"
    bound_text = "-" if bound is None else f"{bound:.3g}"
    why = md.gamma_threshold_reason or ""
    calibrated = " (calibrated for its basis)" if why and not why.startswith("properties.") else ""
    return (f"MD stability of {stage}/: {md.steps_run}/{md.steps} steps at {md.temperature_K} K, "
            f"max gamma {gamma} (bound {bound_text}{calibrated}): {'ok' if ok else 'FAIL'}"
            + (f" ({md.exploded})" if md.exploded else ""))
