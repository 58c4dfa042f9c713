"""Scores behind decisions (basis ladder, keep-the-best, prior errors, spot checks), computed with
the fit's own row weights (fit_weights.py)."""
