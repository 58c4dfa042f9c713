"""The two-level fit (components/trainers/prior_fit.py) on synthetic linear problems built here.

The problems are synthetic: a 1-D input x, a Legendre basis as the "design matrix", a random true
coefficient vector as the expensive level (plus small label noise), and the truth plus a smooth
(quadratic) bias as the cheap level, which labels many more points. Expected values come from an
independent ridge (`_ridge_lstsq`: least squares on the weighted rows stacked on sqrt(alpha) I),
not from the module's own solver.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from numpy.polynomial import legendre

from mlip_autopipec.components.trainers.prior_fit import (choose_prior_strength, energy_shift, fit_correction,
                                                          two_level_fit)
from mlip_autopipec.core.errors import TrainingError

N_COLS = 12
ALPHA = 1e-8


def _ridge_lstsq(X, y, w, alpha):
    """argmin sum w (Xc - y)^2 + alpha |c|^2 by least squares on an augmented system."""
    sw = np.sqrt(w)
    A = np.vstack([X * sw[:, None], np.sqrt(alpha) * np.eye(X.shape[1])])
    b = np.concatenate([y * sw, np.zeros(X.shape[1])])
    return np.linalg.lstsq(A, b, rcond=None)[0]


def _features(x):
    return legendre.legvander(x, N_COLS - 1)


def _bias(x):
    return 0.2 * x + 0.1 * x**2 - 0.05


def synthetic_problem(seed: int, n_expensive: int, n_cheap: int = 400):
    """Cheap rows = truth + smooth bias at many points; expensive rows = truth + 5 meV noise at few;
    a dense test grid of the truth. Row weights vary (0.5-2) so the weighting is exercised."""
    rng = np.random.default_rng(seed)
    c_true = rng.normal(0.0, 1.0, N_COLS)
    x_L = rng.uniform(-1, 1, n_cheap)
    x_H = rng.uniform(-1, 1, n_expensive)
    x_T = np.linspace(-1, 1, 201)
    A_L, A_H, A_T = _features(x_L), _features(x_H), _features(x_T)
    return {
        "A_L": A_L, "y_L": A_L @ c_true + _bias(x_L), "w_L": rng.uniform(0.5, 2.0, n_cheap),
        "A_H": A_H, "y_H": A_H @ c_true + rng.normal(0.0, 0.005, n_expensive),
        "w_H": rng.uniform(0.5, 2.0, n_expensive),
        "A_T": A_T, "y_T": A_T @ c_true,
    }


def _rms(A, y, c):
    return float(np.sqrt(np.mean((A @ c - y) ** 2)))


def _weighted_rms(A, y, w, c):
    return float(np.sqrt(np.sum(w * (A @ c - y) ** 2) / np.sum(w)))


def test_infinite_prior_strength_gives_the_cheap_fit():
    p = synthetic_problem(0, n_expensive=12)
    c_L = _ridge_lstsq(p["A_L"], p["y_L"], p["w_L"], ALPHA)
    fit = two_level_fit(p["A_L"], p["y_L"], p["w_L"], p["A_H"], p["y_H"], p["w_H"], ALPHA, prior_strength=1e12)
    np.testing.assert_allclose(fit.cheap_coef, c_L, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fit.coef, c_L, rtol=1e-6, atol=1e-8)
    # and the expensive labels moved it: a finite strength does not return the prior
    moved = fit_correction(p["A_H"], p["y_H"], p["w_H"], c_L, 1e-3)
    assert np.max(np.abs(moved - c_L)) > 1e-2


def test_vanishing_prior_strength_gives_the_expensive_only_fit():
    p = synthetic_problem(1, n_expensive=60)  # enough expensive rows to determine every coefficient
    expensive_only = _ridge_lstsq(p["A_H"], p["y_H"], p["w_H"], ALPHA)
    fit = two_level_fit(p["A_L"], p["y_L"], p["w_L"], p["A_H"], p["y_H"], p["w_H"], ALPHA, prior_strength=1e-10)
    np.testing.assert_allclose(fit.coef, expensive_only, rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(fit.cheap_coef - expensive_only)) > 1e-2  # the prior itself is elsewhere


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_levels_beat_expensive_only_with_few_expensive_labels(seed):
    """12 expensive rows for 12 coefficients (4 held out to choose lambda): the expensive-only fit
    interpolates its noise; the prior fills in what they do not constrain and they remove its bias."""
    p = synthetic_problem(seed, n_expensive=12)
    held = np.arange(12) < 4
    fit = two_level_fit(p["A_L"], p["y_L"], p["w_L"], p["A_H"], p["y_H"], p["w_H"], ALPHA, "auto", held=held)
    two_level = _rms(p["A_T"], p["y_T"], fit.coef)
    expensive_only = _rms(p["A_T"], p["y_T"], _ridge_lstsq(p["A_H"], p["y_H"], p["w_H"], ALPHA))
    cheap_bias = float(np.sqrt(np.mean(_bias(np.linspace(-1, 1, 201)) ** 2)))
    assert two_level < 0.25 * expensive_only, (two_level, expensive_only)
    assert two_level < 2 * cheap_bias  # not just the truth's scale: near the cheap level's own error or below


def test_auto_picks_a_grid_strength_no_worse_than_either_limit_on_the_held_out_split():
    p = synthetic_problem(0, n_expensive=12)
    held = np.arange(12) < 4
    fit_rows = ~held
    c_L = _ridge_lstsq(p["A_L"], p["y_L"], p["w_L"], ALPHA)
    choice = choose_prior_strength(p["A_H"], p["y_H"], p["w_H"], c_L, held, ALPHA)
    grid = np.asarray(choice.grid)
    assert choice.prior_strength in choice.grid
    assert grid[0] < choice.prior_strength < grid[-1]  # both limits lose here, so an inner value wins
    assert np.all(np.diff(np.log10(grid)) > 0)

    A_h, y_h, w_h = p["A_H"][held], p["y_H"][held], p["w_H"][held]
    A_f, y_f, w_f = p["A_H"][fit_rows], p["y_H"][fit_rows], p["w_H"][fit_rows]
    # the chosen strength refitted independently: step 2 as one augmented least squares around c_L
    lam = choice.prior_strength
    chosen = c_L + _ridge_lstsq(A_f, y_f - A_f @ c_L, w_f, lam)
    chosen_score = _weighted_rms(A_h, y_h, w_h, chosen)
    cheap_only = _weighted_rms(A_h, y_h, w_h, c_L)
    expensive_only = _weighted_rms(A_h, y_h, w_h, _ridge_lstsq(A_f, y_f, w_f, ALPHA))
    assert chosen_score <= cheap_only
    assert chosen_score <= expensive_only
    assert choice.cheap_only_score == pytest.approx(cheap_only, rel=1e-6)
    assert choice.expensive_only_score == pytest.approx(expensive_only, rel=1e-6)
    assert min(choice.scores) == pytest.approx(chosen_score, rel=1e-6)


def test_auto_needs_held_out_and_fitted_rows():
    p = synthetic_problem(0, n_expensive=12)
    c_L = np.zeros(N_COLS)
    with pytest.raises(TrainingError, match="0 of 12 expensive rows held out"):
        choose_prior_strength(p["A_H"], p["y_H"], p["w_H"], c_L, np.zeros(12, dtype=bool), ALPHA)
    with pytest.raises(TrainingError, match="needs the held-out rows"):
        two_level_fit(p["A_L"], p["y_L"], p["w_L"], p["A_H"], p["y_H"], p["w_H"], ALPHA, "auto")


# --------------------------------------------------------------------------------------------
# Energy shift between the levels
# --------------------------------------------------------------------------------------------
def _cells(formulas):
    return [Atoms(f, pbc=True, cell=[5.0, 5.0, 5.0]) for f in formulas]


def test_shift_recovers_a_per_element_offset():
    offset = {"Mg": -1.37, "O": 2.05}
    frames = _cells(["Mg2O2", "Mg4O4", "Mg3O", "MgO3", "Mg4", "Mg2O6"])
    rng = np.random.default_rng(3)
    e_cheap = rng.uniform(-50.0, -10.0, len(frames))
    e_expensive = e_cheap + np.array([sum(offset[s] for s in a.get_chemical_symbols()) for a in frames])
    shift = energy_shift(frames, e_expensive, e_cheap, ["Mg", "O"])
    assert shift.method == "composition_fit"
    assert shift.per_element["Mg"] == pytest.approx(-1.37, abs=1e-9)
    assert shift.per_element["O"] == pytest.approx(2.05, abs=1e-9)
    shifted = e_cheap + np.array([shift.of(a) for a in frames])
    np.testing.assert_allclose(shifted, e_expensive, atol=1e-9)


def test_shift_falls_back_to_isolated_atoms_with_one_composition():
    frames = _cells(["Mg2O2", "Mg4O4", "Mg8O8", "MgO"])  # one composition: rank 1 < 2 elements
    e_cheap = np.array([-20.0, -40.1, -80.3, -10.0])
    e_expensive = e_cheap + np.array([3.0, 6.2, 12.1, 1.4])
    isolated_expensive = {"Mg": -0.03, "O": -1.90}
    isolated_cheap = {"Mg": -0.85, "O": -4.72}
    shift = energy_shift(frames, e_expensive, e_cheap, ["Mg", "O"], isolated_expensive, isolated_cheap)
    assert shift.method == "isolated_atoms"
    assert shift.per_element["Mg"] == pytest.approx(-0.03 - (-0.85))
    assert shift.per_element["O"] == pytest.approx(-1.90 - (-4.72))
    with pytest.raises(TrainingError, match="isolated-atom energies of Mg, O are missing"):
        energy_shift(frames, e_expensive, e_cheap, ["Mg", "O"])


def test_shift_of_one_element_is_fitted_from_its_cells():
    """One element, cells of any size: the composition matrix has rank 1 = the number of elements,
    so the offset is fitted (isolated atoms not needed)."""
    frames = _cells(["Si8", "Si16", "Si7"])
    e_cheap = np.array([-43.0, -86.5, -37.2])
    e_expensive = e_cheap + 0.25 * np.array([8, 16, 7])
    shift = energy_shift(frames, e_expensive, e_cheap, ["Si"])
    assert shift.method == "composition_fit"
    assert shift.per_element["Si"] == pytest.approx(0.25, abs=1e-9)


def test_both_levels_pair_by_label_hash_and_skip_cut_out_energies():
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    from mlip_autopipec.components.trainers.prior_fit import both_levels, shift_between_levels

    def labelled(seed, energy, key):
        a = bulk("Cu", "fcc", a=3.61, cubic=True)
        a.rattle(0.02, seed=seed)
        a.calc = SinglePointCalculator(a, energy=energy, forces=np.zeros((4, 3)))
        a.info["label_hash"] = key
        return a

    expensive = [labelled(0, -10.0, "a"), labelled(1, -11.0, "b"), labelled(2, -12.0, "c")]
    expensive[2].info["energy_weight"] = 0.0  # a cut-out: its energy is no label
    cheap = [labelled(1, -9.0, "b"), labelled(0, -8.0, "a"), labelled(2, -7.0, "c"), labelled(3, -6.0, "d")]
    pairs = both_levels(expensive, cheap)
    assert [(e.info["label_hash"], c.info["label_hash"]) for e, c in pairs] == [("a", "a"), ("b", "b")]
    shift, n = shift_between_levels(expensive, cheap)
    # (E_exp - E_cheap) / N = (-2/4, -2/4): -0.5 eV/atom
    assert n == 2 and shift.method == "composition_fit" and shift.per_element["Cu"] == pytest.approx(-0.5)


def test_one_composition_of_a_compound_shifts_by_the_isolated_atoms():
    """Cu3Au cells only: the composition does not determine a term per element, so the shift is each element's
    isolated-atom difference between the levels (given here), and without them a message names the elements."""
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    from mlip_autopipec.components.trainers.prior_fit import shift_between_levels

    def cell(seed, energy):
        a = bulk("Cu", "fcc", a=3.7, cubic=True)
        a.symbols[0] = "Au"
        a.rattle(0.02, seed=seed)
        a.calc = SinglePointCalculator(a, energy=energy, forces=np.zeros((4, 3)))
        a.info["label_hash"] = f"k{seed}"
        return a

    expensive = [cell(0, -12.0), cell(1, -12.5)]
    cheap = [cell(0, -3.0), cell(1, -3.4)]
    shift, n = shift_between_levels(expensive, cheap, {"Cu": -0.5, "Au": -0.25}, {"Cu": 0.25, "Au": 1.0})
    assert (shift.method, n) == ("isolated_atoms", 2)
    assert shift.per_element == {"Au": -1.25, "Cu": -0.75}
    with pytest.raises(TrainingError, match="isolated-atom energies of Au, Cu"):
        shift_between_levels(expensive, cheap, {"Cu": -0.5, "Au": -0.25}, None)
