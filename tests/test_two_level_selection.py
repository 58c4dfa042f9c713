"""components/selectors/two_level.py: the expensive picks of a two-level iteration, on hand-made inputs."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.morse import MorsePotential
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_autopipec.components.selectors.two_level import (DISAGREEMENT, GAMMA, disagreements,
                                                           max_force_disagreement, pick_expensive, split_counts)
from mlip_autopipec.core.identity import structure_hash


def cell(seed: int):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.rattle(stdev=0.05, seed=seed)
    return atoms


def with_forces(atoms, forces):
    out = atoms.copy()
    out.calc = SinglePointCalculator(out, energy=0.0, forces=np.asarray(forces, dtype=float))
    out.info["label_hash"] = structure_hash(atoms)
    return out


@pytest.mark.parametrize("n, share, expected", [(5, 0.5, (2, 3)), (4, 0.5, (2, 2)), (5, 0.0, (5, 0)),
                                                (5, 1.0, (0, 5)), (1, 0.4, (1, 0)), (8, 0.25, (6, 2))])
def test_split_counts(n, share, expected):
    assert split_counts(n, share) == expected


def test_max_force_disagreement_is_the_largest_atom_vector_difference_over_trusted_atoms():
    atoms = cell(0)
    cheap = with_forces(atoms, np.zeros((4, 3)))
    pot = np.zeros((4, 3))
    pot[1] = [3.0, 4.0, 0.0]  # |diff| 5
    pot[2] = [0.0, 0.0, 2.0]  # |diff| 2
    assert max_force_disagreement(cheap, pot) == pytest.approx(5.0)
    cheap.arrays["force_weight"] = np.array([1.0, 0.0, 1.0, 1.0])  # a cut-out's boundary atom is no label
    assert max_force_disagreement(cheap, pot) == pytest.approx(2.0)


def test_disagreements_match_by_hash_and_a_missing_cheap_label_is_infinite():
    cands = [cell(k) for k in range(3)]
    calc = MorsePotential(epsilon=0.35, rho0=6.0, r0=2.55)
    ref = []
    for a in cands:
        b = a.copy()
        b.calc = calc
        ref.append(b.get_forces())
    shifted = ref[0].copy()
    shifted[3] += [0.0, 0.6, 0.8]  # one atom off by 1 eV/Å
    cheap = [with_forces(cands[2], ref[2]), with_forces(cands[0], shifted)]  # other order; cands[1] failed
    d = disagreements(cands, cheap, calc)
    assert d[0] == pytest.approx(1.0, abs=1e-9) and d[2] == pytest.approx(0.0, abs=1e-9) and np.isinf(d[1])


def test_pick_expensive_takes_the_selector_part_then_the_largest_disagreements():
    dis = np.array([0.1, 0.9, np.inf, 0.5, 0.7, 0.2])
    asked = []

    def selector(k):
        asked.append(k)
        return [4, 0][:k]

    pick = pick_expensive(6, 4, 0.5, selector, dis)
    assert asked == [2]
    assert pick.chosen == [4, 0, 2, 1]  # 4 has 0.7 but the selector took it; inf (cheap failed) first
    assert pick.reasons == [GAMMA, GAMMA, DISAGREEMENT, DISAGREEMENT]


def test_pick_expensive_fills_with_disagreement_when_the_selector_returns_fewer():
    pick = pick_expensive(4, 3, 0.0, lambda k: [1], np.array([0.3, 0.2, 0.1, 0.4]))
    assert pick.chosen == [1, 3, 0] and pick.reasons == [GAMMA, DISAGREEMENT, DISAGREEMENT]
    assert pick_expensive(2, 5, 0.5, lambda k: list(range(k)), np.zeros(2)).chosen == [0, 1]


def test_the_disagreement_share_drops_to_zero_when_the_cheap_fit_is_further_from_the_expensive_labels():
    from mlip_autopipec.components.selectors.two_level import trusted_share

    share, why = trusted_share(0.5, 0.37, 0.016)  # Si/GPAW with CHGNet: the cheap fit 23x worse
    assert share == 0.0 and "all picks by the selector" in why and "0.37" in why
    share, why = trusted_share(0.5, 0.01, 0.02)  # a cheap level nearer the expensive labels than the potential
    assert share == 0.5 and "all picks" not in why
    assert trusted_share(0.5, None, None) == (0.5, "configured")  # a fixed prior_strength records no scores
    assert trusted_share(0.0, 0.37, 0.016) == (0.0, "configured")
