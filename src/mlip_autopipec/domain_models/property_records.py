"""`<stage>/properties/properties.json` (and its copy `final/properties.json`): one record per property.

Written by the properties step (`properties/compare.py` builds the records), read by the property gate,
the run's state, the re-decision of an extended run, the report and the hand-off README. Every reader
validates the file into `PropertyRecord`, so a misspelt key is an error rather than a silent `None`.

The file keeps the keys the dict records had: the eight keys of every row are always written (null
when empty); the rest only when they hold something (an external `reference`, an `error` row, the
self-check's `check`, `skipped` and per-side numbers), so files of earlier runs read unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, TypeAdapter, model_serializer

from ._strict import Strict

# rel: |potential - oracle| / |oracle| <= tolerance; abs: |potential - oracle| <= tolerance;
# max: potential <= tolerance; min: potential >= tolerance; consistency: each side against itself
ToleranceKind = Literal["rel", "abs", "max", "min", "consistency"]


class BulkModuli(Strict):
    """One side's two bulk moduli of the self-check (`properties/consistency.py`)."""

    eos: float = Field(description="B0 of the side's Birch-Murnaghan fit, GPa.")
    elastic: float = Field(description="B from the side's elastic constants (sum of C_ij, i,j <= 3, over 9; "
                           "cubic: (C11 + 2 C12)/3), GPa.")


class PropertyRecord(Strict):
    """One row of the properties table: the potential's value against the oracle's (or a bound), its
    tolerance and the verdict; or a property that could not be computed (`error`)."""

    ALWAYS: ClassVar[tuple[str, ...]] = ("name", "unit", "oracle", "potential", "abs_error", "rel_error",
                                         "tolerance", "ok")

    name: str = Field(description="Property name (e.g. lattice_constant, C11, phonon_rmse), or the group or "
                      "'equilibrium' for an `error` row.")
    unit: str | None = Field(None, description="Unit of `oracle` and `potential` ('rel' for the self-check; "
                             "null on an error row).")
    oracle: float | None = Field(None, description="The oracle's value (null: a potential-only bound such as "
                                 "the MD checks and phonon_rmse, or the oracle's calculation failed).")
    potential: float | None = Field(None, description="The potential's value (null: its calculation failed).")
    abs_error: float | None = Field(None, description="|potential - oracle| (a potential-only bound: the "
                                    "potential's value itself); null when not computed.")
    rel_error: float | None = Field(None, description="|potential - oracle| / |oracle|; null without an oracle "
                                    "value or when it is zero.")
    tolerance: float | None = Field(None, description="The bound `tolerance_kind` compares with, from "
                                    "properties.tolerances (a volume: the lattice-constant tolerance, cubed).")
    tolerance_kind: ToleranceKind | None = Field(
        None, description="How the tolerance applies: rel, abs, max (value <= tolerance), min (value >= "
        "tolerance), consistency (each side against itself); absent on an error row.")
    ok: bool = Field(description="Within tolerance (an error row: false; a skipped row: true).")
    reference: float | None = Field(None, description="External value of properties.reference, when configured.")
    error: str | None = Field(None, description="Why the property (group) could not be computed, prefixed by "
                              "the side ('oracle: ...', 'potential: ...').")
    check: str | None = Field(None, description="The self-check row: what is compared with what.")
    skipped: str | None = Field(None, description="A row not judged, and why ('<side>: reason'): the self-check's, "
                                "or vibrations of a structure the oracle holds at a saddle point.")
    oracle_B_GPa: BulkModuli | None = Field(None, description="The self-check row: the oracle's two bulk moduli.")
    oracle_tolerance: float | None = Field(None, description="The self-check row: the oracle side's tolerance.")
    potential_B_GPa: BulkModuli | None = Field(None, description="The self-check row: the potential's two bulk "
                                               "moduli.")
    potential_tolerance: float | None = Field(None, description="The self-check row: the potential side's "
                                              "tolerance.")

    @model_serializer(mode="wrap")
    def _as_on_disk(self, handler):
        """Every row's eight keys always; the others only when set (the dict records' layout)."""
        data = handler(self)
        return {k: v for k, v in data.items() if k in self.ALWAYS or v is not None}

    @classmethod
    def failed(cls, name: str, error: str) -> "PropertyRecord":
        """A property (group) that could not be computed: `ok` false, the reason in `error`."""
        return cls(name=name, ok=False, error=error)

    def side_tolerance(self, side: str) -> float | None:
        """The self-check's tolerance of one side (`oracle` or `potential`); else the row's."""
        own = getattr(self, f"{side}_tolerance")
        return own if own is not None else self.tolerance


_RECORDS = TypeAdapter(list[PropertyRecord])


def property_records_json(records: list[PropertyRecord]) -> list[dict]:
    """The list written to `properties.json`."""
    return [r.model_dump() for r in records]


def read_property_records(path: str | Path) -> list[PropertyRecord]:
    """Read and validate a `properties.json`."""
    from ..core.io import read_json

    return _RECORDS.validate_python(read_json(path))


def write_property_records(path: str | Path, records: list[PropertyRecord]) -> None:
    """Write `properties.json` atomically (core.io.write_json)."""
    from ..core.io import write_json

    write_json(path, property_records_json(records))
