"""The files between `GPAWOracle` and `gpaw_driver` (GPAW under MPI): `RUNDIR/parameters.json` (what to
compute) and `RUNDIR/result.json` (what came of it).

Either the labels (free_energy, energy, forces, stress) or the error that stopped GPAW with its class
by the oracles' failure rule (`failure`: program, setup or bug; base.py). The oracle validates the
file into this model, so a driver and an oracle that disagree on a key fail loudly (a bug: the job
stops with the traceback) instead of reading a silent `None`. The file keeps the dicts' keys:
a result has its four keys (stress null when not computed), an error its three and, for a crash of
the driver's own code, the traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_serializer, model_validator

from ...domain_models._strict import Strict

class GpawParameters(Strict):
    """`RUNDIR/parameters.json`: GPAW's keyword arguments and whether to compute the stress."""

    gpaw: dict[str, Any] = Field(description="GPAW(**gpaw): the oracle's parameters for this structure.")
    need_stress: bool = Field(True, description="Compute the stress (periodic cells, when the labels need it).")


_RESULT = ("free_energy", "energy", "forces", "stress")
_ERROR = ("error", "error_type", "failure", "traceback")


class GpawDriverResult(Strict):
    """The labels of one GPAW calculation, or why it failed."""

    free_energy: float | None = Field(None, description="Force-consistent (free) energy, eV.")
    energy: float | None = Field(None, description="The energy extrapolated to zero smearing, eV.")
    forces: list[list[float]] | None = Field(None, description="Forces, eV/Å, one row per atom.")
    stress: list[float] | None = Field(None, description="Stress, eV/Å^3, Voigt order; null when not asked for.")
    error: str | None = Field(None, description="The exception's message (its class name when it has none).")
    error_type: str | None = Field(None, description="The exception's class name, e.g. KohnShamConvergenceError.")
    failure: Literal["program", "setup", "bug"] | None = Field(
        None, description="program: the calculation failed (recorded, skipped); setup: GPAW rejected its "
        "parameters (the config's mistake); bug: the driver's own code failed.")
    traceback: str | None = Field(None, description="The driver's traceback (failure program or bug).")

    @model_validator(mode="after")
    def _labels_or_error(self) -> "GpawDriverResult":
        labelled = None not in (self.free_energy, self.energy, self.forces)
        failed = None not in (self.error, self.error_type, self.failure)
        if labelled == failed:
            raise ValueError("a GPAW driver result holds either free_energy, energy and forces or error, "
                             "error_type and failure")
        return self

    @model_serializer(mode="wrap")
    def _as_on_disk(self, handler):
        data = handler(self)
        if self.error is None:
            return {k: data[k] for k in _RESULT}
        return {k: data[k] for k in _ERROR if data[k] is not None}

    @property
    def failed(self) -> bool:
        return self.error is not None


def read_gpaw_result(path: str | Path) -> GpawDriverResult:
    return GpawDriverResult.model_validate_json(Path(path).read_text())
