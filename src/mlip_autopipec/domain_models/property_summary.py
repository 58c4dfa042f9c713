"""One potential's properties stage as the run's state shows it (`WorkflowState.properties[stage]`).

Written by `loop/property_state.py` from the stage's files, read by the status table and the report.
The verdict keys appear only once `properties.json` exists and `self_check` only when the table has
its self-check row, as in the state files of earlier runs, which read unchanged.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_serializer

from ._strict import Strict

SelfCheck = Literal["ok", "FAILED", "skipped"]


class PropertyStageSummary(Strict):
    """Oracle calculations and verdicts of one potential's properties."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("n_properties", "n_ok", "self_check")

    n_tasks: int = Field(description="The oracle's property tasks (tasks.extxyz).")
    n_labelled: int = Field(description="Tasks the oracle jobs labelled so far.")
    n_failed: int = Field(description="Tasks whose oracle calculation failed.")
    n_properties: int | None = Field(None, description="Rows of properties.json; absent before it exists.")
    n_ok: int | None = Field(None, description="Rows within tolerance; absent before properties.json exists.")
    self_check: SelfCheck | None = Field(None, description="The table's self-check (B from the Cij against the "
                                         "EOS B0): ok, FAILED or skipped; absent without the check's row.")

    @model_serializer(mode="wrap")
    def _drop_none(self, handler):
        data = handler(self)
        return {k: v for k, v in data.items() if k not in self.OPTIONAL or v is not None}

    def line(self, stage: str) -> str:
        """The stage's part of the status line."""
        verdict = f", {self.n_ok}/{self.n_properties} within tolerance" if self.n_properties is not None else ""
        if self.self_check is not None:
            verdict += f", B(Cij) = B(EOS) check {self.self_check}"
        return f"{stage} {self.n_labelled}/{self.n_tasks} oracle calculations ({self.n_failed} failed){verdict}"
