"""steps/prior_errors.py: the previous potential's errors on new labels, and Spearman's rank
correlation (checked against values worked out by hand, and on EMT against a perturbed EMT)."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_autopipec.steps.prior_errors import prior_errors, spearman


def test_spearman_by_hand():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks x: 1 2 3 4, y: 2 1 4 3 -> d^2 = 1+1+1+1 = 4 -> 1 - 6*4/(4*15) = 0.6
    assert spearman([1, 2, 3, 4], [2, 1, 4, 3]) == pytest.approx(0.6)
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None


def _labelled(seed: int, spot: bool):
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    atoms.rattle(0.05, seed=seed)
    ref = atoms.copy()
    ref.calc = EMT()
    atoms.calc = SinglePointCalculator(atoms, energy=ref.get_potential_energy(), forces=ref.get_forces())
    atoms.info["spot_check"] = spot
    return atoms


def test_errors_of_the_oracle_itself_are_zero_and_spot_checks_are_summarised_apart():
    frames = [_labelled(0, False), _labelled(1, True), _labelled(2, True)]
    out = prior_errors(EMT(), frames, with_gamma=False)
    assert out.n_structures == 3
    assert out.force_rmse == pytest.approx(0, abs=1e-10)
    assert out.spot_check.n_structures == 2
    assert [p.spot_check for p in out.per_structure] == [False, True, True]


def test_a_shifted_energy_shows_as_the_energy_error_per_atom():
    frames = [_labelled(0, False)]
    n = len(frames[0])
    shifted = frames[0].copy()
    shifted.calc = SinglePointCalculator(shifted, energy=frames[0].get_potential_energy() + 0.01 * n,
                                         forces=frames[0].get_forces())
    out = prior_errors(EMT(), [shifted], with_gamma=False)
    assert out.per_structure[0].energy_error_per_atom == pytest.approx(-0.01, abs=1e-9)
    assert np.isclose(out.energy_rmse_per_atom, 0.01)


def test_spot_checks_on_cut_outs_are_scored_on_the_rows_the_cut_out_trusts():
    """A spot-check cut-out whose energy and boundary forces are wrong (as a cut-out's are: its
    box is no part of the large cell) must not count those rows; its core forces are exact."""
    from mlip_autopipec.sampling.cutouts import ENERGY_WEIGHT, FORCE_WEIGHT

    good = _labelled(3, True)
    core = np.zeros(len(good))
    core[:5] = 1.0
    forces = good.get_forces().copy()
    forces[core == 0] += 2.0
    cut = good.copy()
    cut.calc = SinglePointCalculator(cut, energy=good.get_potential_energy() + 3.0, forces=forces)
    cut.arrays[FORCE_WEIGHT] = core
    cut.info[ENERGY_WEIGHT] = 0.0
    cut.info["spot_check"] = True
    out = prior_errors(EMT(), [cut, _labelled(4, True)], with_gamma=False)
    assert out.spot_check.force_rmse == pytest.approx(0, abs=1e-10)
    assert out.spot_check.energy_rmse_per_atom == pytest.approx(0, abs=1e-10)  # only the full cell's energy
    assert out.spot_check.n_energy_labels == 1
    assert out.per_structure[0].energy_is_label is False and out.per_structure[0].force_rmse == pytest.approx(0, abs=1e-10)


def test_spot_check_forces_are_also_grouped_by_kind():
    """Two spot frames of kind `slab` with forces off by 0.03 and 0.04 eV/Å on every component, one of
    kind `fcc` exact: the slab group's RMSE is sqrt((0.03^2 + 0.04^2) / 2), the fcc group's 0."""
    frames = []
    for seed, shift, kind in ((5, 0.03, "slab"), (6, 0.04, "slab"), (7, 0.0, "fcc")):
        good = _labelled(seed, True)
        off = good.copy()
        off.calc = SinglePointCalculator(off, energy=good.get_potential_energy(), forces=good.get_forces() + shift)
        off.info.update(spot_check=True, kind=kind)
        frames.append(off)
    frames.append(_labelled(8, False))  # not a spot frame: in the whole set's groups only
    frames[-1].info["kind"] = "fcc"
    out = prior_errors(EMT(), frames, with_gamma=False, group_of=lambda a: a.info["kind"])
    by_kind = out.spot_check.force_rmse_by_group
    assert by_kind["slab"] == pytest.approx(np.sqrt((0.03 ** 2 + 0.04 ** 2) / 2))
    assert by_kind["fcc"] == pytest.approx(0, abs=1e-10)
    assert set(out.force_rmse_by_group) == {"slab", "fcc"}
