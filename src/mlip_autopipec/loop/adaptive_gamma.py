"""Adaptive gamma thresholds: read gamma_select off the recorded calibration (a pure function).

The calibration is the fits' `prior` records: per labelled structure, the max gamma the potential
before the fit gave it and that potential's force RMSE against the new label. Pooled over the
stages so far, a straight line through log(force RMSE) against log(max gamma) says at which gamma a
structure's error reaches the tolerance; structures below it are not worth a label, so that gamma
is `gamma_select`, and `gamma_halt` keeps the configured ratio to it. The configured values stay
when the evidence is thin (too few points) or says gamma does not rank errors (no positive rank
correlation or slope): adapting to noise would be worse than a documented default.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from ..domain_models.adaptive_gamma_config import AdaptiveGammaConfig, GammaThresholds
from ..domain_models.records import PriorErrors


def calibration_points(priors: Iterable[tuple[str, PriorErrors | None]]) -> list[tuple[float, float, str]]:
    """(max gamma, force RMSE in eV/Å, stage) of every structure with a recorded, finite gamma, from
    (stage, `prior` of its train.json) pairs."""
    points = []
    for stage, prior in priors:
        for row in (prior.per_structure if prior is not None else []):
            g, err = row.max_gamma, row.force_rmse
            if g is None or err is None or not (math.isfinite(g) and math.isfinite(err)) or err <= 0:
                continue
            points.append((float(g), float(err), stage))
    return points


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    from scipy.stats import spearmanr

    rho = float(spearmanr(x, y).statistic)
    return rho if math.isfinite(rho) else None


def adaptive_thresholds(points: Sequence[tuple[float, float, str]], cfg: AdaptiveGammaConfig, tolerance: float,
                        gamma_select: float, gamma_halt: float) -> GammaThresholds:
    """gamma_select/gamma_halt for the next explorations from calibration `points`; the configured
    `gamma_select`/`gamma_halt` when the points are too few or do not rank errors."""
    stages = sorted({s for _, _, s in points})
    configured = dict(gamma_select=gamma_select, gamma_halt=gamma_halt, adaptive=False, force_tolerance=tolerance,
                      n_structures=len(points), stages=stages)
    if len(points) < cfg.min_structures:
        return GammaThresholds(**configured, reason=f"configured values: {len(points)} calibration point(s), "
                               f"{cfg.min_structures} needed")
    g = np.log(np.maximum([p[0] for p in points], 1e-6))
    e = np.log([p[1] for p in points])
    rho = _spearman(g, e)
    slope, intercept = (np.polyfit(g, e, 1) if np.ptp(g) > 0 else (0.0, float(np.mean(e))))
    fit = dict(slope=float(slope), intercept=float(intercept), spearman=rho)
    if rho is None or rho <= 0 or slope <= 0:
        return GammaThresholds(**configured, **fit, reason="configured values: gamma does not rank the recorded "
                               f"force errors (Spearman {rho if rho is None else round(rho, 2)}, slope {slope:.2f})")
    raw = float(np.exp((math.log(tolerance) - intercept) / slope))
    lo, hi = cfg.select_range
    select = min(max(raw, lo), hi)
    ratio = gamma_halt / gamma_select
    halt = min(max(select * ratio, cfg.halt_range[0]), cfg.halt_range[1])
    if halt <= select:  # a halt range below this select: keep the ratio rather than an empty band
        halt = select * ratio
    bounded = "" if select == raw else f" (bounded to {select:.3g} by select_range {[lo, hi]})"
    return GammaThresholds(
        gamma_select=select, gamma_halt=halt, adaptive=True, force_tolerance=tolerance, n_structures=len(points),
        stages=stages, unbounded_select=raw, **fit,
        reason=f"force RMSE reaches {1000 * tolerance:.3g} meV/Å at gamma {raw:.3g}{bounded} on {len(points)} "
               f"structures (Spearman {rho:.2f}); gamma_halt {halt:.3g} (configured ratio {ratio:.3g}, halt_range "
               f"{list(cfg.halt_range)})")
