"""Two-level labelling (`cheap_oracle` + `two_level`, docs/two_level_labelling.md): a cheap oracle
(a universal potential) labels broadly, the expensive one (`oracle`, DFT) only what the loop selects.

Opt-in: without `cheap_oracle` the run is today's one-level run, and this section is ignored.
"""

from __future__ import annotations

from typing import Literal, Union

from pydantic import Field, field_validator

from ._strict import Strict

# A cheap level is trusted (its prior used at the grid's best lambda without further proof) when its own fit
# scores within this factor of the expensive labels' own fit on the held-out expensive labels. Measured
# ratios: 1.26 for a cheap level that differs only in its energy zero (tests/test_two_level_fit.py: its
# broader coverage is its value, not its accuracy on the expensive labels' own distribution); 13-260 for
# CHGNet against GPAW Si (benchmarks/two_level.py), where the prior made the first fit 2.3x worse.
TRUST_FACTOR = 2.0


def cheap_level_trusted(cheap_only_score: float, expensive_only_score: float) -> bool:
    """The one rule for both uses of the cheap labels (the fit's prior, prior_fit.choose_prior_strength, and
    the selection's disagreement share, selectors/two_level.trusted_share): the cheap fit scores within
    TRUST_FACTOR of the expensive labels' own fit on their held-out share."""
    return cheap_only_score <= TRUST_FACTOR * expensive_only_score

# What the cheap level can label: the initial set, every candidate of every iteration, the held-out set
CHEAP_LABEL_SETS = ("initial", "candidates", "validation")


class TwoLevelFitConfig(Strict):
    """How the trainer uses the cheap labels (prior_fit.py)."""

    method: Literal["coefficient_prior"] = Field(
        "coefficient_prior", description="coefficient_prior: fit the cheap labels first, then the expensive labels "
        "with a ridge pulling the coefficients toward that fit (Delta-learning inside the ACE basis; one potential "
        "at run time)."
    )
    prior_strength: Union[Literal["auto"], float] = Field(
        "auto", description="Strength of the pull toward the cheap fit (lambda). auto: chosen on a grid by the error "
        "on the basis ladder's held-out share of the expensive labels; a number: that lambda (> 0)."
    )

    @field_validator("prior_strength")
    @classmethod
    def _positive(cls, v):
        if v != "auto" and not v > 0:
            raise ValueError(f"prior_strength must be 'auto' or a number > 0, got {v}")
        return v


class TwoLevelConfig(Strict):
    """What the cheap level labels, how many expensive labels an iteration gets and how they are chosen."""

    cheap_labels: list[Literal["initial", "candidates", "validation"]] = Field(
        default_factory=lambda: list(CHEAP_LABEL_SETS),
        description="What the cheap oracle labels: 'initial' (the starting set), 'candidates' (every candidate of "
        "every iteration, not just the selected ones), 'validation' (the generated held-out set, reported beside the "
        "expensive level's errors as information).",
    )
    dft_per_iteration: int | None = Field(
        None, ge=1, description="Structures the expensive oracle labels per iteration. null: selection.n_select."
    )
    disagreement_share: float = Field(
        0.5, ge=0, le=1, description="Share of an iteration's expensive labels picked by the largest disagreement "
        "between the cheap labels and the current potential (max over atoms of |F_cheap - F_potential|; a candidate "
        "the cheap level failed on first); the rest by the selector (MaxVol on gamma). Needs 'candidates' in "
        "cheap_labels when > 0."
    )
    fit: TwoLevelFitConfig = Field(default_factory=TwoLevelFitConfig, description="How the fit uses the cheap labels.")

    @field_validator("cheap_labels")
    @classmethod
    def _unique(cls, v):
        if len(set(v)) != len(v):
            raise ValueError(f"cheap_labels lists a set twice: {v}")
        return v
