"""The `convergence:` section: extra conditions before the loop may call itself converged."""

from __future__ import annotations

from pydantic import Field

from ._strict import Strict


class ConvergenceConfig(Strict):
    """Beyond "every exploration ran its budget": optional physical-property gate."""

    properties: bool = Field(False, description="Do not converge while a property of the explored potential "
                             "is out of tolerance (needs properties.enabled; computes the properties of every "
                             "iteration's potential); the property structures whose oracle labels the potential "
                             "misses most are offered to the selector instead. Trade-off: the check's own "
                             "structures then enter the training set, so it is no longer an independent test.")
    property_candidates: int = Field(10, ge=1, description="Property structures offered to the selector per "
                                     "iteration (those with the largest potential-oracle disagreement).")
