"""Settings of the label-noise check: before any label is spent, the oracle labels one
representative structure at its configured settings and at tighter ones; the differences are the
noise floor of the labels (no potential can be more accurate than the labels it learns from)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ._strict import Strict

TIGHTENABLE = ("kpoints", "cutoff", "smearing")


class LabelNoiseConfig(Strict):
    """`label_noise:` in the config."""

    enabled: bool = Field(
        True, description="Measure the label noise before the initial labels (oracles without tighter "
        "settings, such as EMT, record 'not applicable' at no cost)."
    )
    settings: list[Literal["kpoints", "cutoff", "smearing"]] = Field(
        default_factory=lambda: list(TIGHTENABLE), min_length=1,
        description="Settings tightened one at a time: kpoints (a twice as dense grid), cutoff (the "
        "oracle's own factor, 1.3x for plane waves), smearing (half the width). Each costs one "
        "calculation of the representative structure and one of its pristine parent.",
    )
    max_fraction: float = Field(
        1.0, gt=0, description="The run stops (or warns, see on_excess) when the noise floor exceeds this "
        "fraction of the spot-check tolerance (convergence.force_rmse / energy_rmse). Errors add: a "
        "potential cannot be checked to a tolerance its labels do not reach."
    )
    on_excess: Literal["stop", "warn"] = Field(
        "stop", description="stop: end the run before the initial labels with a message naming the setting "
        "to tighten; warn: log it and go on."
    )
