"""The extrapolation grade of a final fit, put on the loop potential's scale.

gamma is the distance of an atom's environment from the active set of *its* basis: a basis with
more functions has more directions to leave the training data in, so the same configuration gets a
larger gamma from the 800-function final fit than from the 300-function potential the loop
explored with (measured on the default Cu run: see README "The final fit"). The loop's threshold
`gamma_halt` therefore does not apply to the final fit as it is. Its threshold is calibrated on the
frames the loop accepted: the last iteration's exploration frames (evenly spread samples and the
extrapolative frames above gamma_select), every one of them below the loop potential's gamma_halt.
Both potentials score them; the ratio of the largest gamma each gives over that set is how much
larger the final basis's scale is on the territory the loop verified, and the final fit's thresholds
are the loop's times that ratio (never below them). Whether errors stay small up to there is then
checked against the oracle on fresh spot-check frames (shipping/verdict.py), not assumed.
"""

from __future__ import annotations

import math
from typing import Sequence

from ..domain_models.ship import GammaScale


def gamma_scale(pairs: Sequence[tuple[float, float]], gamma_halt: float, md_max_gamma: float, stage: str,
                reference_stage: str) -> GammaScale:
    """`pairs`: (max gamma of the loop's potential, max gamma of `stage`) per accepted frame. Frames
    the loop's potential did not accept (gamma above gamma_halt) or without a finite gamma are left
    out. No usable frame: the configured thresholds, said so."""
    kept = [(float(r), float(g)) for r, g in pairs
            if math.isfinite(r) and math.isfinite(g) and 0 < r <= gamma_halt]
    common = dict(stage=stage, reference_stage=reference_stage, n_frames=len(kept), gamma_halt=gamma_halt,
                  frames=kept)
    if not kept:
        return GammaScale(**common, scale=1.0, gamma_threshold=gamma_halt, md_max_gamma=md_max_gamma,
                          reason=f"no frame of the last exploration accepted by {reference_stage}: the configured "
                          f"gamma_halt {gamma_halt:g} and md_max_gamma {md_max_gamma:g} apply unchanged")
    ref_max = max(r for r, _ in kept)
    this_max = max(g for _, g in kept)
    raw = this_max / ref_max
    scale = max(1.0, raw)
    floor = "" if raw >= 1 else f" (ratio {raw:.3g} < 1: never below the loop's thresholds)"
    return GammaScale(
        **common, reference_max_gamma=ref_max, max_gamma=this_max, scale=scale,
        gamma_threshold=gamma_halt * scale, md_max_gamma=md_max_gamma * scale,
        reason=(f"on the {len(kept)} frames of the last exploration that {reference_stage} accepted (max gamma "
                f"{ref_max:.3g} <= gamma_halt {gamma_halt:g}), {stage} gives max gamma {this_max:.3g}: scale "
                f"{scale:.3g}{floor}, so its gamma_halt is {gamma_halt * scale:.3g} and its MD-stability bound "
                f"{md_max_gamma * scale:.3g} (md_max_gamma {md_max_gamma:g} x {scale:.3g})"))


def max_gammas(calc, frames) -> list[float]:
    """Max per-atom gamma of `calc` (loaded with its active set) on each frame."""
    from ..components.ace.common import max_gamma

    out = []
    for atoms in frames:
        work = atoms.copy()
        work.calc = None
        out.append(max_gamma(calc, work))
    return out
