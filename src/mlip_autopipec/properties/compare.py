"""Potential against oracle: one record per property, with its tolerance and verdict.

The records are what `properties.json` holds (`domain_models.property_records.PropertyRecord`):
first one row per value either side computed, judged as its group declares (`registry.quantity`,
`judge.record`); then the rows that compare the sides' details (phonon and vibration RMSE, the
relaxed-geometry RMSD), group by group; then the cross-group checks (`consistency.py`: B from the
C_ij against the EOS B0, each side against itself); then any `extra` rows (the MD stability run).
"""

from __future__ import annotations

from ..domain_models.property_records import PropertyRecord
from .judge import record
from .registry import CHECKS, GROUPS, quantity


def compare(oracle: tuple[dict, dict, dict], potential: tuple[dict, dict, dict], pcfg,
            extra: list[PropertyRecord] | None = None) -> list[PropertyRecord]:
    """Records for every property either side computed (a side's failure gives `ok: false`)."""
    (o_val, o_det, _), (p_val, p_det, _) = oracle, potential
    tol = pcfg.tolerances
    records = []
    for name in dict.fromkeys([*o_val, *p_val]):
        q = quantity(name)
        records.append(record(name, q, o_val.get(name), p_val.get(name), getattr(tol, q.tolerance),
                              pcfg.reference.get(name)))
    for group in GROUPS.values():
        records += group.records(o_det, p_det, pcfg)
    for check in CHECKS:
        records += check.records(o_det, p_det)
    return records + list(extra or [])
