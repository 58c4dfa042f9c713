"""The arithmetic behind benchmarks/label_efficiency.py's headline ratios (pure functions, no fits)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from efficiency_metrics import CurvePoint, Ratio, cost_ratio, first_reach, md_calls, summarize  # noqa: E402


def test_first_reach_takes_the_cheapest_point_at_or_below_the_target():
    curve = [CurvePoint(34, 34, 0.004), CurvePoint(39, 1000, 0.002), CurvePoint(44, 1500, 0.0025),
             CurvePoint(49, 2600, 0.0015)]
    assert first_reach(curve, 0.002) == 39  # at the target counts; the later rise does not undo it
    assert first_reach(curve, 0.002, "calls") == 1000
    assert first_reach(curve, 0.0015, "calls") == 2600
    assert first_reach(curve, 0.001) is None


def test_md_calls_runs_each_trajectory_to_its_latest_frame():
    # two trajectories: t600 must run to step 700, t1200 to step 40; vac900 gives no frame
    assert md_calls([("t600", 300), ("t1200", 40), ("t600", 700), ("t600", 10)]) == 740
    assert md_calls([]) == 0


def test_ratio_is_a_bound_when_the_other_strategy_never_reaches_the_target():
    assert cost_ratio(58, 4000, 4034) == Ratio(58 / 4000)
    bound = cost_ratio(58, None, 4034)
    assert bound.bound and bound.value == 58 / 4034 and bound.text(4) == "< 0.0144"
    assert cost_ratio(None, 100, 200).text() == "-"


def test_summary_over_seeds_keeps_bounds_and_refuses_undefined_seeds():
    mean, lo, hi = summarize([Ratio(0.2), Ratio(0.4, bound=True), Ratio(0.6)])
    assert (round(mean.value, 9), mean.bound, lo, hi) == (0.4, True, 0.2, 0.6)
    assert summarize([Ratio(0.2), Ratio(None)])[0].value is None
