"""`exploration.adaptive_gamma`: thresholds set from the recorded calibration of gamma (opt-in).

Every fit records how the potential before it did on the structures it then learnt: their max
gamma and that potential's force RMSE against the new labels (`prior` in train.json). With
`enabled: true`, each iteration's explorations use a `gamma_select` read off that record — the
gamma at which a structure's force error is expected to reach `force_tolerance` — and a
`gamma_halt` in the configured ratio to it, both bounded to a sane range. The thresholds used, and
why, are in every exploration record and the iteration's decision (`gamma_thresholds`).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ._strict import Strict


class AdaptiveGammaConfig(Strict):
    """Opt-in: the next iteration's gamma_select/gamma_halt from the calibration so far."""

    enabled: bool = Field(False, description="Set gamma_select/gamma_halt of iteration n from the prior errors "
                          "of the fits before it (false: the configured values throughout).")
    force_tolerance: float | None = Field(
        None, gt=0, description="Force RMSE (eV/Å) a structure may have before it is worth a label; gamma_select is "
        "the gamma at which the calibration fit reaches it. null: convergence.force_rmse.")
    select_range: tuple[float, float] = Field(
        (1.5, 5.0), description="Bounds of the adaptive gamma_select (below ~1.5 gamma is interpolation noise; "
        "above ~5 the potential extrapolates far before a frame is kept).")
    halt_range: tuple[float, float] = Field(
        (3.0, 15.0), description="Bounds of the adaptive gamma_halt, which is gamma_select times the configured "
        "gamma_halt / gamma_select ratio.")
    min_structures: int = Field(
        8, ge=3, description="Calibration points (labelled structures with a recorded gamma) needed before "
        "the thresholds adapt; with fewer the configured values are used.")

    @model_validator(mode="after")
    def _ranges(self) -> "AdaptiveGammaConfig":
        for name in ("select_range", "halt_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"adaptive_gamma.{name} must be [low, high] with 0 < low <= high, got {[lo, hi]}")
        if self.halt_range[1] <= self.select_range[0]:
            raise ValueError("adaptive_gamma.halt_range must reach above select_range's low end")
        return self


class GammaThresholds(Strict):
    """The thresholds one iteration's explorations used, and where they came from."""

    gamma_select: float = Field(description="Frames with max gamma above this were kept.")
    gamma_halt: float = Field(description="Max gamma above this halted a run.")
    adaptive: bool = Field(description="True if set from the calibration, False if the configured values.")
    reason: str = Field(description="Why these values, in words.")
    force_tolerance: float | None = Field(None, description="Force RMSE tolerance (eV/Å) the fit was solved for.")
    n_structures: int = Field(0, description="Calibration points used.")
    stages: list[str] = Field(default_factory=list, description="Stages whose prior errors were pooled.")
    slope: float | None = Field(None, description="b of log(force RMSE) = a + b log(max gamma).")
    intercept: float | None = Field(None, description="a of the same fit (force RMSE in eV/Å).")
    spearman: float | None = Field(None, description="Rank correlation of max gamma with force RMSE.")
    unbounded_select: float | None = Field(None, description="gamma_select before the bounds were applied.")
