"""The checkpoint step: turn an iteration's exploration records into a typed decision."""

from __future__ import annotations

import logging

from ..core.decision import decide
from ..core.property_gate import gate_on_properties
from ..core.io import read_json, write_json
from ..domain_models.state import ConditionResult, Decision

log = logging.getLogger(__name__)


def condition_result(record: dict) -> ConditionResult:
    return ConditionResult.model_validate({k: v for k, v in record.items() if k in ConditionResult.model_fields})


def run_gate(rcfg, iteration: int, record_files: list[str], previous_decision_files: list[str],
             out_decision: str, property_files: list[str] = ()) -> Decision:
    conditions = [condition_result(read_json(f)) for f in record_files]
    previous = [Decision.model_validate(read_json(f)) for f in previous_decision_files]
    decision = decide(iteration, conditions, previous, rcfg.cfg.max_cycles, rcfg.cfg.patience)
    if property_files:  # convergence.properties
        records = [r for f in property_files for r in read_json(f)]
        decision = gate_on_properties(decision, records, rcfg.cfg.max_cycles, rcfg.cfg.patience)
    write_json(out_decision, decision.model_dump(mode="json"))
    log.info("CHECKPOINT iter %d: %s — %s", iteration, decision.action.value, decision.reason)
    return decision
