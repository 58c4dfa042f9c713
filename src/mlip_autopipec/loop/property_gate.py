"""`convergence.properties`: the checkpoint may not converge while a property is out of tolerance.

Applied after the exploration decision, so without the option nothing changes. A run that would
have converged continues instead (the selector then gets the worst property structures), but
max_cycles and patience still end it: progress cannot exceed 1.0 once every exploration runs
through, so iterations that only chase properties count as iterations without improvement.
"""

from __future__ import annotations

from ..domain_models.property_records import PropertyRecord
from ..domain_models.state import Action, Decision


def gate_on_properties(decision: Decision, records: list[PropertyRecord], max_cycles: int, patience: int) -> Decision:
    bad = [r.name for r in records if not r.ok]
    if decision.action is not Action.CONVERGED or not bad:
        return decision
    what = f"every exploration ran through, but {len(bad)} propert{'y is' if len(bad) == 1 else 'ies are'} " \
           f"out of tolerance ({', '.join(bad)})"
    if decision.iteration + 1 >= max_cycles:
        action, reason = Action.STOP_MAX_CYCLES, f"reached max_cycles={max_cycles}: {what}"
    elif decision.iterations_without_improvement >= patience:
        action, reason = Action.STOP_PATIENCE, f"{decision.iterations_without_improvement} iteration(s) " \
                                               f"without improvement >= patience={patience}: {what}"
    else:
        action, reason = Action.CONTINUE, f"{what}; offering the worst property structures to the selector"
    return decision.model_copy(update={"action": action, "reason": reason})
