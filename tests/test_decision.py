"""The checkpoint's stop decision: halt → continue, converged, max_cycles, patience."""

import pytest

from mlip_autopipec.core import layout as L
from mlip_autopipec.loop.decision import decide
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
    assert L.flag(Action.CONVERGED.ends_converged) == "converged.flag"
    assert L.flag(Action.STOP_PATIENCE.ends_converged) == "stopped.flag"
    assert not Action.CONTINUE.ends_converged


# --------------------------------------------------------------------------------------------
# Spot checks: gamma-convergence ends the loop only once the oracle agrees
# --------------------------------------------------------------------------------------------
from mlip_autopipec.loop.decision import spot_check_result  # noqa: E402
from mlip_autopipec.domain_models.records import SpotCheckErrors  # noqa: E402


def spot(iteration, force, energy=0.0001, n=4):
    return spot_check_result(iteration, SpotCheckErrors(n_structures=n, force_rmse=force, energy_rmse_per_atom=energy),
                             force_tolerance=0.003, energy_tolerance=0.001)


def test_gamma_convergence_orders_spot_checks_and_a_failed_check_continues():
    ran_through = [cond(False, 1000)]
    d0 = decide(0, [cond(True, 300)], [], 50, 5, spot_checks=4)
    d1 = decide(1, ran_through, [d0], 50, 5, spot_checks=4)
    assert d1.action is Action.CONTINUE and d1.spot_check
    d2 = decide(2, ran_through, [d0, d1], 50, 5, spot_checks=4, last_spot_check=spot(1, force=0.010))
    assert d2.action is Action.CONTINUE and d2.spot_check
    assert d2.spot_check_result.passed is False
    assert "failed" in d2.reason
    d3 = decide(3, ran_through, [d0, d1, d2], 50, 5, spot_checks=4, last_spot_check=spot(2, force=0.002))
    assert d3.action is Action.CONVERGED
    assert d3.spot_check_result.passed is True and not d3.spot_check


def test_energy_tolerance_counts_too_and_zero_spot_checks_keeps_the_old_rule():
    assert spot(0, force=0.001, energy=0.002).passed is False
    assert decide(0, [cond(False, 1000)], [], 50, 5, spot_checks=0).action is Action.CONVERGED


def test_a_halt_after_a_spot_check_is_an_ordinary_continue():
    d0 = decide(0, [cond(False, 1000)], [], 50, 5, spot_checks=4)
    d1 = decide(1, [cond(True, 400)], [d0], 50, 5, spot_checks=4, last_spot_check=spot(0, force=0.001))
    assert d1.action is Action.CONTINUE and not d1.spot_check


def test_spot_checks_respect_max_cycles():
    d0 = decide(0, [cond(False, 1000)], [], 2, 5, spot_checks=4)
    d1 = decide(1, [cond(False, 1000)], [d0], 2, 5, spot_checks=4, last_spot_check=spot(0, force=0.1))
    assert d1.action is Action.STOP_MAX_CYCLES
    assert "spot checks" in d1.reason


def spot_check_sequence(forces, patience=3, max_cycles=50):
    """Decisions of a run that is gamma-converged from iteration 0 on and whose spot checks (one per
    iteration from iteration 1) have the given force RMSEs (tolerance 3 meV/Å); `patience` is the
    spot-check patience (the exploration patience stays 5)."""
    ran_through = [cond(False, 1000)]
    decisions = [decide(0, ran_through, [], max_cycles, 5, spot_checks=4, spot_check_patience=patience)]
    for it, force in enumerate(forces, start=1):
        decisions.append(decide(it, ran_through, decisions, max_cycles, 5, spot_checks=4,
                                last_spot_check=spot(it - 1, force=force), spot_check_patience=patience))
    return decisions


def test_failed_spot_checks_that_stop_improving_end_the_run_by_patience():
    # the best check is the first (13 meV/Å); three more that do not beat it reach patience 3
    decisions = spot_check_sequence([0.013, 0.0133, 0.0131, 0.0135], patience=3)
    assert [d.action for d in decisions[1:]] == [Action.CONTINUE] * 3 + [Action.STOP_PATIENCE]
    assert "3 spot check(s) in a row without beating the best" in decisions[-1].reason
    assert decisions[-1].action.terminal_status is not None


def test_without_spot_check_patience_failed_checks_go_on_until_max_cycles():
    decisions = spot_check_sequence([0.013] * 8, patience=None, max_cycles=9)
    assert [d.action for d in decisions[1:]] == [Action.CONTINUE] * 7 + [Action.STOP_MAX_CYCLES]


def test_failed_spot_checks_that_keep_improving_continue():
    decisions = spot_check_sequence([0.013, 0.011, 0.009, 0.007, 0.005, 0.004], patience=3)
    assert all(d.action is Action.CONTINUE for d in decisions[1:])
    decisions = spot_check_sequence([0.013, 0.011, 0.009, 0.007, 0.005, 0.004, 0.0025], patience=3)
    assert decisions[-1].action is Action.CONVERGED


def test_an_improvement_resets_the_spot_check_patience():
    # best at 9 meV/Å (third check); two that do not beat it are below patience 3
    decisions = spot_check_sequence([0.013, 0.0135, 0.009, 0.0095, 0.0091], patience=3)
    assert decisions[-1].action is Action.CONTINUE


def test_spot_check_excess_orders_force_and_energy_failures():
    from mlip_autopipec.loop.decision import spot_check_excess
    assert spot_check_excess(spot(0, force=0.006, energy=0.0001)) == pytest.approx(2.0)
    assert spot_check_excess(spot(0, force=0.0015, energy=0.004)) == pytest.approx(4.0)


def test_earlier_spot_checks_are_judged_by_the_current_tolerances():
    from mlip_autopipec.loop.decision import spot_check_excess, spot_check_result
    earlier = spot(0, force=0.006)  # 2x its 3 meV/Å tolerance
    now = spot_check_result(1, SpotCheckErrors(n_structures=4, force_rmse=0.009, energy_rmse_per_atom=1e-4), 0.006,
                            0.001)
    assert spot_check_excess(earlier, judged_by=now) == pytest.approx(1.0)
    assert spot_check_excess(now) == pytest.approx(1.5)


def test_one_kind_above_its_tolerance_fails_the_spot_check():
    from mlip_autopipec.loop.decision import spot_check_excess, spot_check_result, with_tolerances

    from mlip_autopipec.domain_models.records import SpotCheckErrors

    prior = SpotCheckErrors(n_structures=14, force_rmse=0.004, energy_rmse_per_atom=2e-4,
                            force_rmse_by_group={"fcc": 0.002, "surface_111": 0.015, "liquid": 0.006})
    whole_only = spot_check_result(3, prior, 0.005, 0.001)
    assert whole_only.passed and whole_only.kind_force_tolerance is None
    r = spot_check_result(3, prior, 0.005, 0.001, 0.012)
    assert not r.passed and r.worst_kind() == ("surface_111", 0.015)
    assert spot_check_excess(r) == pytest.approx(0.015 / 0.012)
    assert with_tolerances(r, 0.005, 0.001, 0.02).passed
    ran_through = [cond(False, 1000)]
    d0 = decide(0, [cond(True, 300)], [], 50, 5, spot_checks=4)
    d1 = decide(1, ran_through, [d0], 50, 5, spot_checks=4)
    d = decide(2, ran_through, [d0, d1], 50, 5, spot_checks=4, last_spot_check=r)
    assert d.action == Action.CONTINUE and "worst kind surface_111 F 15.00 meV/Å (tolerance 12.00)" in d.reason
