"""The `convergence:` section: extra conditions before the loop may call itself converged."""

from __future__ import annotations

from pydantic import Field

from ._strict import Strict


class ConvergenceConfig(Strict):
    """Beyond "every exploration ran its budget". Gamma-convergence is not accuracy: before ending, the
    oracle labels a few frames sampled from the gamma-converged explorations and the loop ends only if the
    potential's errors on them are within the tolerances below (otherwise they join the training set and
    the loop goes on). Optionally, physical properties must be within their tolerances too."""

    spot_checks: int = Field(
        4, ge=0, description="Frames labelled per spot check, spread over the conditions (0: end at gamma-convergence)."
    )
    force_rmse: float | None = Field(
        None, gt=0, description="Spot-check force RMSE tolerance in eV/Å. null: 0.5 % of the system's thermal "
        "force scale at the lowest exploration temperature, at most 0.05 (derived_defaults.py; Cu: 0.003).")
    kind_force_rmse: float | None = Field(
        None, gt=0, description="Spot-check force RMSE tolerance per kind, eV/Å: the check fails when the spot "
        "frames of any one kind (a portfolio kind; outside a portfolio, one exploration condition) are above it, "
        "however good the whole set is, so a small hard kind (a slab, a cluster) cannot hide behind many easy "
        "ones. null: 2.4 x force_rmse for a portfolio (derived_defaults.py), not checked otherwise.")
    energy_rmse: float = Field(0.001, gt=0, description="Spot-check energy RMSE tolerance in eV/atom.")
    spot_check_patience: int | None = Field(
        5, ge=1, description="End the run (stop_patience) after this many failed spot checks in a row that "
        "do not beat the best one so far: the fit's accuracy floor is above the tolerance. null: keep "
        "spot-checking until max_cycles.")

    properties: bool = Field(False, description="Do not converge while a property of the explored potential "
                             "is out of tolerance (needs properties.enabled; computes the properties of every "
                             "iteration's potential); the property structures whose oracle labels the potential "
                             "misses most are offered to the selector instead. Trade-off: the check's own "
                             "structures then enter the training set, so it is no longer an independent test.")
    property_candidates: int = Field(10, ge=1, description="Property structures offered to the selector per "
                                     "iteration (those with the largest potential-oracle disagreement).")
