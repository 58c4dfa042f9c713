"""scoring/fit_weights.py: every decision score weighs the rows as the fit does.

Expected values are computed here from the fit's objective as documented (energy row of a structure:
w_E * N * t_E on the per-atom energy error; force component: t_F), not taken from the code."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_autopipec.components.trainers.basis_ladder import DesignMatrix, row_weights, structure_errors
from mlip_autopipec.sampling.cutouts import ENERGY_WEIGHT, FORCE_WEIGHT
from mlip_autopipec.domain_models.config import LinearAceTrainerConfig, MockTrainerConfig, PacemakerTrainerConfig
from mlip_autopipec.scoring.fit_weights import fit_energy_weight, from_residuals, of_calculator


def emt_labelled(n_rep=(2, 2, 2), seed=0):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(n_rep)
    atoms.rattle(0.05, seed=seed)
    atoms.calc = EMT()
    e, f = atoms.get_potential_energy(), atoms.get_forces()
    atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f)
    return atoms


def relabel(atoms, energy, forces):
    out = atoms.copy()
    out.calc = SinglePointCalculator(out, energy=energy, forces=forces)
    return out


def test_untrusted_rows_are_ignored_even_when_their_labels_are_wrong():
    """A cut-out: energy and boundary forces are no labels. Its label there is garbage (+10 eV,
    boundary forces off by 5 eV/Å); the core forces are exact. The true potential (EMT) scores 0."""
    ref = emt_labelled()
    core = np.zeros(len(ref))
    core[:8] = 1.0
    forces = ref.get_forces().copy()
    forces[core == 0] += 5.0
    cut = relabel(ref, ref.get_potential_energy() + 10.0, forces)
    cut.arrays[FORCE_WEIGHT] = core
    cut.info[ENERGY_WEIGHT] = 0.0
    err = of_calculator(EMT(), [cut], fit_energy_weight=1.0)
    assert err.score() == pytest.approx(0.0, abs=1e-9)
    out = err.errors()
    assert out["force_rmse"] == pytest.approx(0.0, abs=1e-9) and out["energy_rmse_per_atom"] is None
    assert out["n_energy_labels"] == 0

    # a core force wrong by 0.3 eV/Å in x on one atom: exactly that over the 24 trusted components
    forces[0, 0] += 0.3
    cut_bad_core = relabel(ref, ref.get_potential_energy() + 10.0, forces)
    cut_bad_core.arrays[FORCE_WEIGHT] = core
    cut_bad_core.info[ENERGY_WEIGHT] = 0.0
    err = of_calculator(EMT(), [cut_bad_core], fit_energy_weight=1.0)
    assert err.score() == pytest.approx(np.sqrt(0.3 ** 2 / 24), rel=1e-9)


def test_each_structures_energy_counts_once_with_the_fits_weight():
    """Two 32-atom structures, exact forces, energy error 2 meV/atom each. The fit's loss is
    2 x (w_E * 32 * de^2) over 2 x 96 force components: score^2 = w_E * de^2 / 3, not 4 x de."""
    frames = [emt_labelled(seed=s) for s in (1, 2)]
    de = 0.002
    shifted = [relabel(a, a.get_potential_energy() - de * len(a), a.get_forces()) for a in frames]
    for w_e in (1.0, 0.25):
        err = of_calculator(EMT(), shifted, fit_energy_weight=w_e)
        assert err.score() == pytest.approx(np.sqrt(w_e * de ** 2 / 3), rel=1e-6)
        assert err.errors()["energy_rmse_per_atom"] == pytest.approx(de, rel=1e-6)
    # the same structure twice scores as once: nothing is counted per copy beyond its own rows
    once = from_residuals(frames[:1], [de], [np.zeros((32, 3))], 1.0).score()
    twice = from_residuals(frames[:1] * 2, [de, de], [np.zeros((32, 3))] * 2, 1.0).score()
    assert once == pytest.approx(twice, rel=1e-12) == pytest.approx(np.sqrt(de ** 2 / 3), rel=1e-12)


def test_the_ladders_design_matrix_scores_with_the_fits_own_row_weights():
    """basis_ladder.structure_errors on a two-structure design matrix: a 2-atom cut-out (energy
    untrusted, atom 1 a boundary atom) and a 1-atom structure. Residuals are planted on every row;
    the score must see only the trusted ones, weighted as row_weights weights them."""
    a = bulk("Cu", "fcc", a=3.6).repeat((2, 1, 1))
    a.arrays[FORCE_WEIGHT] = np.array([1.0, 0.0])
    a.info[ENERGY_WEIGHT] = 0.0
    b = bulk("Cu", "fcc", a=3.6)
    n_atoms = np.array([2, 1])
    n_rows = 2 + 3 * 3
    dm = DesignMatrix(X=np.eye(n_rows), y=np.zeros(n_rows), n_atoms=n_atoms,
                      stress_rows=np.full((2, 6), -1), volumes=np.ones(2))
    residual = np.zeros(n_rows)
    residual[0] = 7.0                     # a's energy: untrusted
    residual[1] = 0.01                    # b's energy per atom
    residual[2:5] = [0.1, 0.2, 0.2]       # a, atom 0 (core)
    residual[5:8] = [9.0, 9.0, 9.0]       # a, atom 1 (boundary): untrusted
    residual[8:11] = [0.05, 0.0, 0.0]     # b, atom 0
    w = row_weights(dm, energy_weight=2.0, stress_weight=0.0, frames=[a, b])
    err = structure_errors(dm, w, np.array([True, True]), np.arange(n_rows), residual)  # X = I: prediction = coef
    expected = np.sqrt((2.0 * 1 * 0.01 ** 2 + 0.1 ** 2 + 0.2 ** 2 + 0.2 ** 2 + 0.05 ** 2) / 6)
    assert err.score() == pytest.approx(expected, rel=1e-12)
    assert err.errors()["energy_rmse_per_atom"] == pytest.approx(0.01, rel=1e-12)


def test_the_fit_energy_weight_is_the_trainers():
    assert fit_energy_weight(LinearAceTrainerConfig(energy_weight=0.5)) == 0.5
    assert fit_energy_weight(PacemakerTrainerConfig(kappa=0.8)) == pytest.approx(0.25)
    assert fit_energy_weight(MockTrainerConfig()) == 1.0
