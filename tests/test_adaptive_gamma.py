"""Adaptive gamma thresholds (core/adaptive_gamma.py, opt-in `exploration.adaptive_gamma`): read off
the recorded calibration, bounded, and the configured values whenever the evidence is thin."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from mlip_autopipec.domain_models.records import PriorErrors
from mlip_autopipec.loop.adaptive_gamma import adaptive_thresholds, calibration_points
from mlip_autopipec.domain_models.adaptive_gamma_config import AdaptiveGammaConfig

ON = AdaptiveGammaConfig(enabled=True)  # select_range [1.5, 5], halt_range [3, 15], 8 points needed


def law(gammas, a=1e-3, b=0.5, stage="iter_000"):
    """Calibration points on the exact law force RMSE = a * gamma**b (eV/Å)."""
    return [(g, a * g ** b, stage) for g in gammas]


GAMMAS = [0.7, 1.0, 1.8, 3.0, 6.0, 11.0, 40.0, 150.0, 400.0]


def test_select_is_where_the_error_reaches_the_tolerance_and_halt_keeps_the_ratio():
    # 1e-3 * g**0.5 = 2e-3  <=>  g = 4; configured ratio 5 / 2
    t = adaptive_thresholds(law(GAMMAS), ON, tolerance=2e-3, gamma_select=2.0, gamma_halt=5.0)
    assert t.adaptive and t.n_structures == len(GAMMAS) and t.stages == ["iter_000"]
    assert t.gamma_select == pytest.approx(4.0, rel=1e-9)
    assert t.gamma_halt == pytest.approx(4.0 * 5.0 / 2.0, rel=1e-9)
    assert t.slope == pytest.approx(0.5) and t.spearman == pytest.approx(1.0)


@pytest.mark.parametrize("tolerance, select, halt", [
    (1e-2, 5.0, 12.5),  # the law reaches 10 meV/Å at gamma 100: capped at select_range's 5
    (5e-4, 1.5, 3.75),  # ... 0.5 meV/Å at gamma 0.25: raised to 1.5, halt 1.5 * 2.5
])
def test_thresholds_stay_in_their_ranges(tolerance, select, halt):
    t = adaptive_thresholds(law(GAMMAS), ON, tolerance=tolerance, gamma_select=2.0, gamma_halt=5.0)
    assert (t.gamma_select, t.gamma_halt) == pytest.approx((select, halt))
    assert t.unbounded_select == pytest.approx((tolerance / 1e-3) ** 2)
    assert "bounded" in t.reason


def test_halt_range_caps_the_halt():
    cfg = AdaptiveGammaConfig(enabled=True, halt_range=(3.0, 8.0))
    t = adaptive_thresholds(law(GAMMAS), cfg, tolerance=2e-3, gamma_select=2.0, gamma_halt=5.0)
    assert (t.gamma_select, t.gamma_halt) == pytest.approx((4.0, 8.0))


def test_too_few_points_keep_the_configured_values():
    t = adaptive_thresholds(law(GAMMAS[:7]), ON, tolerance=2e-3, gamma_select=2.0, gamma_halt=5.0)
    assert not t.adaptive and (t.gamma_select, t.gamma_halt) == (2.0, 5.0)
    assert "7 calibration point(s), 8 needed" in t.reason


def test_gamma_that_does_not_rank_errors_keeps_the_configured_values():
    falling = [(g, 1e-3 / g, "iter_001") for g in GAMMAS]  # errors fall as gamma grows
    t = adaptive_thresholds(falling, ON, tolerance=2e-3, gamma_select=2.0, gamma_halt=5.0)
    assert not t.adaptive and (t.gamma_select, t.gamma_halt) == (2.0, 5.0)
    assert t.spearman == pytest.approx(-1.0) and "does not rank" in t.reason


def test_calibration_points_pool_stages_and_skip_what_has_no_gamma():
    prior0 = {"per_structure": [{"max_gamma": 3.0, "force_rmse": 0.002}, {"max_gamma": None, "force_rmse": 0.001}]}
    prior1 = {"per_structure": [{"max_gamma": math.inf, "force_rmse": 0.5}, {"max_gamma": 0.9, "force_rmse": 0.001}]}
    points = calibration_points([("iter_000", PriorErrors.model_validate(prior0)),
                                 ("iter_001", PriorErrors.model_validate(prior1)), ("iter_002", None)])
    assert points == [(3.0, 0.002, "iter_000"), (0.9, 0.001, "iter_001")]


def test_ranges_must_be_ordered():
    with pytest.raises(ValidationError, match="select_range must be"):
        AdaptiveGammaConfig(select_range=(5.0, 1.5))
    with pytest.raises(ValidationError, match="halt_range must reach above"):
        AdaptiveGammaConfig(select_range=(2.0, 4.0), halt_range=(1.0, 1.5))
