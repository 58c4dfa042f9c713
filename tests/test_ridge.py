"""The one weighted ridge solve (components/trainers/ridge.py) against scikit-learn's Ridge on a
synthetic problem built here (random rows, weights and targets): the objective the fits had when
they called scikit-learn, so moving the fixed-basis fit onto it changed no result."""

from __future__ import annotations

import numpy as np
import pytest

from mlip_autopipec.components.trainers.ridge import weighted_ridge
from mlip_autopipec.core.errors import TrainingError


@pytest.mark.parametrize("alpha", [1e-7, 1e-2, 10.0])
def test_weighted_ridge_is_sklearns_weighted_ridge(alpha):
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(7)
    X = rng.normal(size=(80, 15))
    y = rng.normal(size=80)
    w = rng.uniform(0.0, 3.0, 80)
    w[:5] = 0.0  # untrusted rows (a cut-out's energy) carry no weight
    expected = Ridge(alpha=alpha, fit_intercept=False, solver="auto").fit(X, y, sample_weight=w).coef_
    np.testing.assert_allclose(weighted_ridge(X, y, w, alpha), expected, rtol=1e-8, atol=1e-10)


def test_non_finite_labels_are_a_training_error():
    X = np.eye(3)
    with pytest.raises(TrainingError, match="non-finite coefficients"):
        weighted_ridge(X, np.array([1.0, np.nan, 0.0]), np.ones(3), 1e-7)
