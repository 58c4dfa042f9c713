"""The one weighted ridge solve of the linear ACE fits (basis ladder, fixed basis, two-level prior).

One function so that every linear fit minimises the same objective: a ladder rung, the fixed-basis
fit and both steps of the two-level fit (prior_fit.py) differ only in the rows and the target they
pass, never in how the least-squares problem is solved.
"""

from __future__ import annotations

import numpy as np

from ...core.errors import TrainingError


def weighted_ridge(X: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float) -> np.ndarray:
    """argmin_c sum_i w_i (X_i c - y_i)^2 + alpha |c|^2, the objective of scikit-learn's
    Ridge(fit_intercept=False) with sample weights.

    X [n_rows, n_cols], y [n_rows], w [n_rows] >= 0, alpha > 0; returns c [n_cols].
    Normal equations: the design matrices here have at most a few hundred columns, so the
    n_cols x n_cols system is small whatever the number of rows (scikit-learn's "auto" solver takes
    the same Cholesky route for a dense matrix).
    """
    sw = np.sqrt(w)
    A = X * sw[:, None]
    b = y * sw
    coef = np.linalg.solve(A.T @ A + alpha * np.eye(X.shape[1]), A.T @ b)
    if not np.isfinite(coef).all():
        raise TrainingError("linear ACE fit produced non-finite coefficients")
    return coef
