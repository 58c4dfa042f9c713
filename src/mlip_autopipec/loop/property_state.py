"""The properties stage's share of the workflow state: oracle calculations and verdicts per stage.

Read from the files the stage writes (`<stage>/properties/...`), like the rest of the state, so the
status table counts property calculations exactly like training labels.
"""

from __future__ import annotations

from pathlib import Path

from ..core import layout as L
from ..core.io import count_frames, read_json
from ..domain_models.property_records import read_property_records


def property_counts(workdir: str | Path) -> dict[str, dict]:
    """stage -> {n_tasks, n_labelled, n_failed, n_ok, n_properties} for every stage that has started."""
    out = {}
    for tasks in sorted(Path(workdir).glob(L.property_tasks("*"))):
        d = tasks.parent
        stage = d.parent.name
        try:
            rec = {"n_tasks": count_frames(tasks),
                   "n_labelled": sum(count_frames(p) for p in Path(workdir).glob(L.property_label_job(stage, "*", "extxyz"))),
                   "n_failed": sum(len(read_json(p)["failures"]) for p in Path(workdir).glob(L.property_label_job(stage, "*", "json")))}
            if (Path(workdir) / L.stage_properties(stage)).is_file():
                records = read_property_records(Path(workdir) / L.stage_properties(stage))
                rec["n_properties"] = len(records)
                rec["n_ok"] = sum(1 for r in records if r.ok)
                # the table's self-check (B from the Cij against the EOS B0), shown on its own
                check = next((r for r in records if r.tolerance_kind == "consistency"), None)
                if check is not None:
                    rec["self_check"] = "skipped" if check.skipped else "ok" if check.ok else "FAILED"
        except (OSError, ValueError, KeyError):  # a foreign partial file; ours are written atomically
            continue
        out[stage] = rec
    return out


def summary_line(counts: dict[str, dict]) -> str | None:
    if not counts:
        return None
    parts = []
    for stage, c in counts.items():
        verdict = f", {c['n_ok']}/{c['n_properties']} within tolerance" if "n_properties" in c else ""
        if "self_check" in c:
            verdict += f", B(Cij) = B(EOS) check {c['self_check']}"
        parts.append(f"{stage} {c['n_labelled']}/{c['n_tasks']} oracle calculations ({c['n_failed']} failed){verdict}")
    return "properties: " + "; ".join(parts)
