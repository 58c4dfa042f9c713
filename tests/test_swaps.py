"""sampling/swaps.py: Metropolis atom swaps keep the composition, never go uphill at T -> 0 and
accept (almost) everything at a very high temperature; the default is on for alloys under NVT."""

from __future__ import annotations

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT

from mlip_autopipec.sampling.swaps import metropolis_swaps, swappable_pair, swaps_enabled


def random_alloy(seed: int):
    atoms = bulk("Cu", "fcc", a=3.56, cubic=True) * (2, 2, 2)
    rng = np.random.default_rng(seed)
    atoms.symbols[rng.choice(len(atoms), 16, replace=False)] = "Ni"
    return atoms


def test_low_temperature_swaps_only_go_downhill_and_keep_the_composition():
    atoms = random_alloy(1)
    calc = EMT()
    e0 = calc.get_potential_energy(atoms)
    sites = {tuple(np.round(p, 6)) for p in atoms.positions}
    stats = metropolis_swaps(atoms, calc, 1e-3, 40, np.random.default_rng(2))
    assert stats.attempted == 40 and 0 < stats.accepted < 40
    assert atoms.get_chemical_symbols().count("Ni") == 16
    assert {tuple(np.round(p, 6)) for p in atoms.positions} == sites  # only exchanged, no new sites
    assert calc.get_potential_energy(atoms) < e0


def test_very_high_temperature_accepts_nearly_every_swap():
    atoms = random_alloy(3)
    stats = metropolis_swaps(atoms, EMT(), 1e9, 30, np.random.default_rng(4))
    assert stats.accepted == stats.attempted == 30


def test_pairs_are_of_different_elements_and_single_element_has_none():
    numbers = np.array([29, 29, 28, 29])
    rng = np.random.default_rng(0)
    for _ in range(20):
        i, j = swappable_pair(numbers, rng)
        assert numbers[i] != numbers[j]
    assert swappable_pair(np.array([29, 29]), rng) is None


def test_default_is_on_for_alloys_under_nvt_only():
    alloy, pure = random_alloy(0), bulk("Cu", cubic=True)
    assert swaps_enabled(alloy, None, None) is True
    assert swaps_enabled(alloy, None, 0.0) is False
    assert swaps_enabled(pure, None, None) is False
    assert swaps_enabled(pure, True, None) is True and swaps_enabled(alloy, False, None) is False


def test_default_is_off_for_a_compound_with_a_nonmetal():
    # a cation-anion swap is an antisite: MgO's 300 K MD accepted one from an early potential and collapsed
    mgo = bulk("MgO", "rocksalt", a=4.25, cubic=True)
    assert swaps_enabled(mgo, None, None) is False
    assert swaps_enabled(bulk("SiC", "zincblende", a=4.36, cubic=True), None, None) is False
    assert swaps_enabled(mgo, True, None) is True  # asked for: on


def test_swaps_under_npt_are_a_config_error():
    import pytest
    from pydantic import ValidationError

    from mlip_autopipec.domain_models.config import OTFConfig

    with pytest.raises(ValidationError, match="swaps: true, which needs NVT"):
        OTFConfig.model_validate({"exploration": {"conditions": [
            {"name": "npt", "temperature": 900, "pressure": 0.0, "swaps": True}]}})
