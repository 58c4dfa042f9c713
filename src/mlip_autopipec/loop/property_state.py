"""The properties stage's share of the workflow state: oracle calculations and verdicts per stage.

Read from the files the stage writes (`<stage>/properties/...`), like the rest of the state, so the
status table counts property calculations exactly like training labels.
"""

from __future__ import annotations

from pathlib import Path

from ..core import layout as L
from ..core.io import count_frames
from ..domain_models.property_files import read_property_label_chunk
from ..domain_models.property_records import read_property_records
from ..domain_models.property_summary import PropertyStageSummary


def _self_check(records) -> str | None:
    """The table's self-check (B from the Cij against the EOS B0), shown on its own; None without its row."""
    check = next((r for r in records if r.tolerance_kind == "consistency"), None)
    if check is None:
        return None
    return "skipped" if check.skipped else "ok" if check.ok else "FAILED"


def property_counts(workdir: str | Path) -> dict[str, PropertyStageSummary]:
    """stage -> its summary, for every stage whose properties have started."""
    out = {}
    for tasks in sorted(Path(workdir).glob(L.property_tasks("*"))):
        stage = tasks.parent.parent.name
        try:
            counts = {"n_tasks": count_frames(tasks),
                      "n_labelled": sum(count_frames(p) for p in Path(workdir).glob(L.property_label_job(stage, "*", "extxyz"))),
                      "n_failed": sum(len(read_property_label_chunk(p).failures)
                                      for p in Path(workdir).glob(L.property_label_job(stage, "*", "json")))}
            if (Path(workdir) / L.stage_properties(stage)).is_file():
                records = read_property_records(Path(workdir) / L.stage_properties(stage))
                counts.update(n_properties=len(records), n_ok=sum(1 for r in records if r.ok),
                              self_check=_self_check(records))
        except (OSError, ValueError, KeyError):  # a foreign partial file; ours are written atomically
            continue
        out[stage] = PropertyStageSummary(**counts)
    return out


def summary_line(counts: dict[str, PropertyStageSummary]) -> str | None:
    if not counts:
        return None
    return "properties: " + "; ".join(c.line(stage) for stage, c in counts.items())
