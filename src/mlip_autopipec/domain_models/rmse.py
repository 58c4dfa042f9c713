"""`RmseMetrics`: a potential's energy and force errors on a set of labelled frames.

Its own module because two records hold it: the train record (`validation` of train.json) and the
state (`validation` of every fitted stage in workflow_state.json). The state module cannot import
records.py (records.py imports the state's ConditionResult), so the shared model sits below both.
"""

from __future__ import annotations

from pydantic import Field

from ._strict import Strict


class RmseMetrics(Strict):
    """Energy and force errors of a potential on a set of labelled frames (core.metrics)."""

    energy_rmse_per_atom: float | None = Field(description="Energy RMSE per atom (eV/atom); None for no frames.")
    force_rmse: float | None = Field(description="Force-component RMSE (eV/Å); None for no frames.")
    n_structures: int = Field(description="Frames scored.")
    pressure_rmse_gpa: float | None = Field(
        None, description="Pressure RMSE (GPa) over the 3D-periodic frames with a stress label; None without any."
    )
    by_kind: dict[str, "RmseMetrics"] | None = Field(
        None, description="The same per portfolio kind (frames tagged info['kind']); None without tagged frames."
    )
