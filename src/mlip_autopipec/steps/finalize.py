"""The end of the loop: write the flag that says why it ended."""

from __future__ import annotations

import logging

from ..core.io import write_text
from ..domain_models.state import Decision, read_decision

log = logging.getLogger(__name__)


def run_finalize(decision_file: str, out_flag: str) -> Decision:
    decision = read_decision(decision_file)
    extended = f"\nextended: {decision.extended}" if decision.extended else ""
    write_text(out_flag, f"{decision.action.value}: iteration {decision.iteration}: {decision.reason}{extended}\n")
    log.info("FINISHED: %s after iteration %d (%s)", decision.action.value, decision.iteration, decision.reason)
    return decision
