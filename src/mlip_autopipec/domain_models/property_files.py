"""The JSON files of the properties stage besides `properties.json` (`<stage>/properties/`).

Each one is written by one job and read by another: the MD stability result (read by the properties
job, the ship decision and the run's state), the oracle's equilibrium record (read by the properties
job), an oracle job's record (read by the properties job and the run's state) and `details.json`
(what the report and a user look up: fits, matrices, frequencies). Readers validate the file into its
model, so a misspelt key is an error rather than a silent `None`.

The files keep the keys the dicts had: keys that were written only when they held something are still
left out when empty (`_drop_none`), so files of earlier runs read unchanged and new files are
identical to the old ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_serializer, model_validator

from ._strict import Strict, read_or_none
from .records import LabelFailure
from .state import MdStabilitySummary


class _DropNone(Strict):
    """Keys in `OPTIONAL` are written only when set (not None); every other key always."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _drop_none(self, handler):
        data = handler(self)
        return {k: v for k, v in data.items() if k not in self.OPTIONAL or v is not None}


class MdTrace(Strict):
    """The MD stability run's checks, one entry per check (every `exploration.gamma_check_interval` steps)."""

    step: list[int] = Field(description="MD step of each check (0: the start).")
    max_gamma: list[float] = Field(description="Max extrapolation grade per check (empty: no active set).")
    min_distance: list[float] = Field(description="Shortest interatomic distance per check, Å.")
    energy_drift: list[float] = Field(description="|E_total - E_total(0)| per atom per check, eV/atom.")
    temperature: list[float] = Field(description="Instantaneous temperature per check, K.")


class MdStabilityResult(Strict):
    """`<stage>/properties/md_stability.json`: NVE MD with the potential alone (properties/md_stability.py)."""

    n_atoms: int = Field(description="Atoms of the MD cell (properties.md_supercell of the conventional cell).")
    temperature_K: float = Field(description="Target temperature, K (the velocities start at twice it).")
    steps_run: int = Field(description="Steps done (fewer than `steps` when the run exploded).")
    steps: int = Field(description="Steps asked for (properties.md_steps).")
    timestep_fs: float = Field(description="MD time step, fs.")
    exploded: str | None = Field(description="Why the run broke off (an exception, a non-finite energy); null: it did not.")
    max_gamma: float | None = Field(description="Largest extrapolation grade over the checks; null without an active set.")
    min_distance: float = Field(description="Shortest interatomic distance over the checks, Å.")
    max_energy_drift: float = Field(description="Largest total-energy drift over the checks, eV/atom.")
    mean_temperature_K: float = Field(description="Mean temperature over the second half of the checks, K.")
    trace: MdTrace = Field(description="Every check's values.")
    wall_time_s: float | None = Field(None, description="Seconds of the MD run.")
    gamma_threshold: float | None = Field(None, description="The bound on max_gamma: a final fit's calibrated "
                                          "bound (shipping/gamma_scale.py), else properties.tolerances.md_max_gamma; "
                                          "null in files of runs before it was recorded.")
    gamma_threshold_reason: str | None = Field(None, description="Where gamma_threshold comes from, in words.")

    @property
    def complete(self) -> bool:
        """The run did every step it was asked for, without exploding."""
        return self.exploded is None and self.steps_run >= self.steps

    def summary(self) -> MdStabilitySummary:
        """What the state shows and the ship verdict judges: every summary key set (None where the file
        lacks it, e.g. a run recorded before its bound was), so the state always shows all of them."""
        return MdStabilitySummary(**{key: getattr(self, key) for key in MdStabilitySummary.model_fields})

    def without_trace(self) -> dict[str, Any]:
        """The file's keys but the trace (details.json, the state): exactly those the file holds."""
        return self.model_dump(exclude={"trace"}, exclude_unset=True)


class EquilibriumSummary(_DropNone):
    """One side's relaxed bulk crystal as the report shows it (properties/equilibrium.summary)."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("a",)

    volume_per_atom: float = Field(description="Å^3 per atom.")
    residual_stress_GPa: float | None = Field(description="Largest residual stress component, GPa; null without "
                                              "a calculator.")
    cell: list[list[float]] = Field(description="The relaxed cell (rows), Å.")
    relax_steps: int | None = Field(description="Optimizer steps of the relaxation; null when not recorded.")
    a: float | None = Field(None, description="The lattice constant, Å, when the crystal has one.")


class OracleEquilibriumRecord(_DropNone):
    """`<stage>/properties/oracle_equilibrium.json`: the oracle's relaxation of the bulk crystal, one
    cached label; `equilibrium` when it succeeded, else `failure`."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("equilibrium", "failure")

    computed_now: bool = Field(description="Computed by this job (false: read from the cache).")
    wall_time_s: float = Field(description="Seconds of the job's labelling.")
    equilibrium: EquilibriumSummary | None = Field(None, description="The relaxed crystal; absent on failure.")
    failure: str | None = Field(None, description="Why the relaxation failed; absent on success.")


class PropertyLabelFailure(_DropNone):
    """One failed oracle calculation of a property job: the task's index and name, then the label
    failure's fields (`records.LabelFailure`, without its own index)."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("oracle_settings", "attempt_settings")

    index: int = Field(description="Index of the task in the stage's task list.")
    task: str = Field(description="The task's name (e.g. eos/3, elastic/+0).")
    hash: str = Field(description="Structure hash (core.identity), the cache key.")
    reason: str = Field(description="One-line reason (OracleError message), naming any kept run directory.")
    wall_time_s: float = Field(description="Seconds the failed attempt took.")
    oracle: str = Field(description="Name of the oracle that failed.")
    info: dict[str, str] = Field(default_factory=dict, description="The structure's info, as strings.")
    oracle_settings: dict[str, Any] | None = Field(None, description="Settings that determine the label.")
    attempt_settings: dict[str, Any] | None = Field(None, description="Every setting of the failed attempt.")

    @classmethod
    def of(cls, index: int, task: str, failure: LabelFailure) -> "PropertyLabelFailure":
        return cls(index=index, task=task, **failure.model_dump(exclude={"index"}, exclude_none=True))


class PropertyLabelChunkRecord(Strict):
    """`<stage>/properties/oracle_jobs/<chunk>.json`: what one property oracle job did."""

    chunk: int = Field(description="Chunk number of this job.")
    indices: list[int] = Field(description="Indices into the stage's task list this job was given (may be empty).")
    n_labelled: int = Field(description="Tasks labelled (computed now or from the cache).")
    failures: list[PropertyLabelFailure] = Field(default_factory=list, description="Failed calculations, with reasons.")
    n_computed_now: int = Field(description="Calculations run by this job (the rest came from the cache).")
    wall_time_s: float = Field(description="Seconds of the job's labelling loop.")


class BulkModulusSide(_DropNone):
    """One side's self-check of the table (properties/consistency.py), `details.json`'s
    `<side>.bulk_modulus_consistency`: the two bulk moduli and their relative difference, or why skipped."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("b_eos", "b_elastic", "rel_diff", "tolerance", "skipped")

    b_eos: float | None = Field(None, description="B0 of the side's Birch-Murnaghan fit, GPa.")
    b_elastic: float | None = Field(None, description="B from the side's elastic constants, GPa.")
    rel_diff: float | None = Field(None, description="|B(Cij) - B(EOS)| / B(EOS).")
    tolerance: float | None = Field(None, description="The side's bound on rel_diff: "
                                    "tolerances.bulk_modulus_consistency plus three standard errors of its B0.")
    skipped: str | None = Field(None, description="Why the side was not checked; the numbers are then absent.")

    @model_validator(mode="after")
    def _numbers_or_skipped(self) -> "BulkModulusSide":
        numbers = [self.b_eos, self.b_elastic, self.rel_diff, self.tolerance]
        if (self.skipped is None) == any(x is None for x in numbers):
            raise ValueError("a self-check side holds either all of b_eos, b_elastic, rel_diff, tolerance or "
                             "`skipped`")
        return self

    @property
    def ok(self) -> bool:
        """Within the side's tolerance (a skipped side contradicts nothing)."""
        return self.skipped is not None or self.rel_diff <= self.tolerance


class PropertyDetails(Strict):
    """`<stage>/properties/details.json`: what stands behind the records, for the report and a user."""

    stage: str = Field(description="The potential's stage directory.")
    system: str = Field(description="bulk, slab or cluster (properties/system.py).")
    element: str | None = Field(description="The configured crystal's element; null for a structure file.")
    crystal: str | None = Field(description="The configured crystal's lattice (fcc, bcc, ...); null for a structure "
                                "file.")
    cheap: bool = Field(description="properties.cheap: the oracle's single points at the potential's geometries.")
    potential: dict[str, Any] = Field(description="The potential's side: fits, matrices, frequencies, its "
                                      "equilibrium and self-check, by name (properties/analyze.py).")
    oracle: dict[str, Any] = Field(description="The oracle's side, the same keys.")
    oracle_failures: list[PropertyLabelFailure] = Field(description="Every failed oracle calculation.")
    md_stability: dict[str, Any] | None = Field(description="md_stability.json without its trace; null without it.")


def read_md_stability(path: str | Path) -> MdStabilityResult:
    from ..core.io import read_json

    return MdStabilityResult.model_validate(read_json(path))


def read_md_stability_or_none(path: str | Path) -> MdStabilityResult | None:
    """The MD stability result, or None when the file is missing or not one."""
    return read_or_none(read_md_stability, path)


def read_oracle_equilibrium(path: str | Path) -> OracleEquilibriumRecord:
    from ..core.io import read_json

    return OracleEquilibriumRecord.model_validate(read_json(path))


def read_property_label_chunk(path: str | Path) -> PropertyLabelChunkRecord:
    from ..core.io import read_json

    return PropertyLabelChunkRecord.model_validate(read_json(path))


def read_property_details(path: str | Path) -> PropertyDetails:
    from ..core.io import read_json

    return PropertyDetails.model_validate(read_json(path))


def write_model(path: str | Path, record: Strict) -> None:
    """Write one of these records atomically (core.io.write_json), NaN and infinity kept as JSON's."""
    from ..core.io import write_json

    write_json(path, record.model_dump())
