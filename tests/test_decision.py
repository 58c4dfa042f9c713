"""The checkpoint's stop decision: halt → continue, converged, max_cycles, patience."""

import pytest

from mlip_autopipec.core.decision import decide
from mlip_autopipec.domain_models.state import Action, ConditionResult


def cond(halted: bool, steps: int, budget: int = 1000, name: str = "c") -> ConditionResult:
    return ConditionResult(condition=name, halted=halted, steps_run=steps, budget=budget, max_gamma=1.0)


def run_sequence(step_lists, max_cycles=50, patience=5):
    decisions = []
    for it, steps in enumerate(step_lists):
        conds = [cond(s < 1000, s, name=f"c{i}") for i, s in enumerate(steps)]
        decisions.append(decide(it, conds, decisions, max_cycles, patience))
    return decisions


def test_halt_continues_and_full_budget_converges():
    d = run_sequence([[100], [300], [1000]])
    assert [x.action for x in d] == [Action.CONTINUE, Action.CONTINUE, Action.CONVERGED]


def test_converges_only_if_every_condition_runs_through():
    d = run_sequence([[1000, 500]])
    assert d[0].action is Action.CONTINUE
    d = run_sequence([[1000, 1000]])
    assert d[0].action is Action.CONVERGED


def test_max_cycles_checked_before_next_iteration():
    d = run_sequence([[100], [200], [300]], max_cycles=3)
    assert [x.action for x in d] == [Action.CONTINUE, Action.CONTINUE, Action.STOP_MAX_CYCLES]
    d = run_sequence([[100]], max_cycles=1)
    assert d[0].action is Action.STOP_MAX_CYCLES


def test_convergence_wins_over_cap():
    d = run_sequence([[100], [1000]], max_cycles=2)
    assert d[-1].action is Action.CONVERGED


def test_patience_counts_iterations_without_improvement():
    d = run_sequence([[500], [400], [500], [450]], patience=3)
    assert [x.iterations_without_improvement for x in d] == [0, 1, 2, 3]
    assert d[-1].action is Action.STOP_PATIENCE
    # an improvement resets the counter
    d = run_sequence([[500], [400], [600], [450]], patience=3)
    assert [x.iterations_without_improvement for x in d] == [0, 1, 0, 1]
    assert d[-1].action is Action.CONTINUE


def test_progress_is_share_of_budget():
    d = decide(0, [cond(True, 250, 1000), cond(False, 1000, 1000)], [], 10, 5)
    assert d.progress == pytest.approx(0.625)


def test_inconsistent_history_is_rejected():
    with pytest.raises(ValueError):
        decide(2, [cond(True, 1)], [], 10, 5)
    with pytest.raises(ValueError):
        decide(0, [], [], 10, 5)


def test_flags():
    assert Action.CONVERGED.flag_file == "converged.flag"
    assert Action.STOP_PATIENCE.flag_file == "stopped.flag"
    assert Action.CONTINUE.flag_file is None
