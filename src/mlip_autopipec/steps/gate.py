"""The checkpoint step: turn an iteration's exploration records into a typed decision."""

from __future__ import annotations

import logging

from ..loop.decision import checkpoint, spot_check_result
from ..core.io import write_json
from ..domain_models.property_records import read_property_records
from ..domain_models.records import ExplorationRecord, TrainRecord, read_record
from ..domain_models.state import Decision, read_decision
from ..loop.extension import decision_settings, describe

log = logging.getLogger(__name__)


def run_gate(rcfg, iteration: int, record_files: list[str], previous_decision_files: list[str],
             out_decision: str, superseded_file: str | None = None, property_files: list[str] = (),
             previous_train_file: str | None = None) -> Decision:
    records = [read_record(ExplorationRecord, f) for f in record_files]
    conditions = [r.condition_result() for r in records]
    previous = [read_decision(f) for f in previous_decision_files]
    conv = rcfg.cfg.convergence
    last_spot = None
    if previous_train_file and previous and previous[-1].spot_check:
        prior = read_record(TrainRecord, previous_train_file).prior
        last_spot = spot_check_result(iteration - 1, prior.spot_check if prior else None, conv.force_rmse,
                                      conv.energy_rmse, conv.kind_force_rmse)
    property_records = [r for f in property_files for r in read_property_records(f)] if property_files else None
    decision = checkpoint(iteration, conditions, previous, rcfg.cfg, last_spot, property_records)
    decision.settings = decision_settings(rcfg.cfg, iteration)
    decision.gamma_thresholds = next((r.gamma_thresholds for r in records if r.gamma_thresholds), None)
    superseded = read_decision(superseded_file) if superseded_file else None
    decision.extended = describe(superseded, rcfg.cfg, iteration) or (previous[-1].extended if previous else None)
    if superseded is not None:
        log.info("CHECKPOINT iter %d: run extended: %s", iteration, decision.extended)
    write_json(out_decision, decision.model_dump(mode="json"))
    log.info("CHECKPOINT iter %d: %s — %s", iteration, decision.action.value, decision.reason)
    return decision
