"""Records of the check that decides which potential ships (`final_check/ship.json`) and of the
extrapolation-grade scale of a final fit (`final_fit/gamma_scale.json`).

The loop ends on criteria it measured with the potential it explored with; a final fit with a
larger basis is another potential, so it ships only once it passes the same criteria itself.
"""

from __future__ import annotations

from pydantic import Field

from ._strict import Strict, read_or_none
from .state import FinalFitOutcome, SpotCheckResult


class GammaScale(Strict):
    """How the final fit's gamma compares with the loop potential's on the frames the loop accepted."""

    stage: str = Field(description="The potential whose gamma scale this is (final_fit).")
    reference_stage: str = Field(description="The loop's potential (the one the last iteration explored with).")
    n_frames: int = Field(description="Frames of the last iteration's explorations scored by both potentials.")
    reference_max_gamma: float | None = Field(None, description="Largest max gamma of the loop's potential over them.")
    max_gamma: float | None = Field(None, description="Largest max gamma of this potential over the same frames.")
    scale: float = Field(description="max_gamma / reference_max_gamma, at least 1: how much larger this basis's "
                         "gamma is on the territory the loop verified.")
    gamma_halt: float = Field(description="The loop's gamma_halt (its potential's threshold).")
    gamma_threshold: float = Field(description="This potential's threshold: gamma_halt x scale.")
    md_max_gamma: float = Field(description="The MD stability bound for this potential: "
                                "properties.tolerances.md_max_gamma x scale.")
    reason: str = Field(description="How the thresholds were set, in words.")
    frames: list[tuple[float, float]] = Field(default_factory=list,
                                              description="(loop gamma, this gamma) per frame, for the report.")


class PotentialCheck(Strict):
    """One candidate potential under the loop's end criteria."""

    stage: str = Field(description="Stage directory of the potential.")
    n_functions: int | None = Field(None, description="Basis functions per element.")
    spot_check: SpotCheckResult | None = Field(None, description="Its errors on the fresh spot-check frames "
                                               "(final_check/labels.extxyz), against convergence tolerances.")
    spot_frames: list[dict] = Field(default_factory=list, description="Per frame: max_gamma, force_rmse (eV/Å), "
                                    "energy_error_per_atom (eV/atom).")
    md_max_gamma: float | None = Field(None, description="Max gamma of its MD stability run (None: not run).")
    md_gamma_threshold: float | None = Field(None, description="The bound that applies to this potential.")
    md_exploded: str | None = Field(None, description="Why the MD stability run broke off, if it did.")
    md_steps: tuple[int, int] | None = Field(None, description="(steps run, steps) of the MD stability run.")
    failures: list[str] = Field(default_factory=list, description="End criteria it failed, in words.")

    @property
    def passed(self) -> bool:
        return not self.failures


class ShipDecision(Strict):
    """`final_check/ship.json`: which potential final/ ships, and why."""

    shipped_stage: str = Field(description="Stage directory whose potential final/ ships.")
    loop_stage: str = Field(description="The loop's potential: the one its last iteration explored with.")
    final_fit: FinalFitOutcome = Field(description="What became of the final fit: none (not configured), "
                                       "shipped, failed (the fit raised; the earlier potential was copied), "
                                       "kept_earlier (keep-the-best preferred the earlier fit), rejected (it "
                                       "failed the end criteria below).")
    reason: str = Field(description="Why this potential ships, in words (status, report, README).")
    checks: list[PotentialCheck] = Field(default_factory=list, description="The candidates as checked.")
    gamma_scale: GammaScale | None = Field(None, description="The final fit's gamma calibration.")

    def check_of(self, stage: str) -> PotentialCheck | None:
        return next((c for c in self.checks if c.stage == stage), None)


def read_ship(path) -> ShipDecision:
    """`final_check/ship.json`, validated: the one reader the rules, the step, the plan, the state and
    the report use."""
    from .records import read_record

    return read_record(ShipDecision, path)


def read_ship_or_none(path) -> ShipDecision | None:
    """The ship decision, or None when the file is missing or not one."""
    return read_or_none(read_ship, path)
