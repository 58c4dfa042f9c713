"""The checkpoint step: turn an iteration's exploration records into a typed decision."""

from __future__ import annotations

import logging

from ..core.decision import decide, spot_check_result
from ..core.io import read_json, write_json
from ..domain_models.state import ConditionResult, Decision

log = logging.getLogger(__name__)


def condition_result(record: dict) -> ConditionResult:
    return ConditionResult.model_validate({k: v for k, v in record.items() if k in ConditionResult.model_fields})


def run_gate(rcfg, iteration: int, record_files: list[str], previous_decision_files: list[str],
             out_decision: str, previous_train_file: str | None = None) -> Decision:
    conditions = [condition_result(read_json(f)) for f in record_files]
    previous = [Decision.model_validate(read_json(f)) for f in previous_decision_files]
    conv = rcfg.cfg.convergence
    last_spot = None
    if previous_train_file and previous and previous[-1].spot_check:
        prior = read_json(previous_train_file).get("prior") or {}
        last_spot = spot_check_result(iteration - 1, prior.get("spot_check"), conv.force_rmse, conv.energy_rmse)
    decision = decide(iteration, conditions, previous, rcfg.cfg.max_cycles, rcfg.cfg.patience,
                      conv.spot_checks, last_spot)
    write_json(out_decision, decision.model_dump(mode="json"))
    log.info("CHECKPOINT iter %d: %s — %s", iteration, decision.action.value, decision.reason)
    return decision
