"""steps/initial.py called directly on the mock scenario (no Snakemake)."""

from __future__ import annotations

import json

import numpy as np
from conftest import mock_config

from mlip_autopipec.components.registry import make_oracle
from mlip_autopipec.core.io import read_structures
from mlip_autopipec.steps.initial import (
    elements_of,
    run_initial_structures,
    run_reference_energies,
    starting_structures,
)


def test_initial_structures_are_the_configured_count_and_deterministic(tmp_path):
    rcfg = mock_config(tmp_path)
    n = run_initial_structures(rcfg, str(tmp_path / "a.xyz"))
    run_initial_structures(rcfg, str(tmp_path / "b.xyz"))
    a, b = read_structures(tmp_path / "a.xyz"), read_structures(tmp_path / "b.xyz")
    # mock.yaml: 4 rattled copies + 2 strains + the starting structure itself
    assert n == len(a) == rcfg.cfg.n_initial_structures() == 7
    assert all(len(x) == 32 for x in a)
    assert all(np.array_equal(x.positions, y.positions) for x, y in zip(a, b))
    assert len({x.positions.tobytes() for x in a}) == 7  # no two copies alike


def test_starting_structures_and_their_elements(tmp_path):
    rcfg = mock_config(tmp_path, structures=[{"kind": "bulk", "element": "Cu", "crystal": "fcc", "a": 3.61},
                                             {"kind": "bulk", "element": "Ni", "crystal": "fcc", "a": 3.52}])
    structures = starting_structures(rcfg)
    assert [set(s.get_chemical_symbols()) for s in structures] == [{"Cu"}, {"Ni"}]
    assert elements_of(structures) == ["Cu", "Ni"]


def test_reference_energies_come_from_the_oracle(tmp_path):
    rcfg = mock_config(tmp_path, oracle={"kind": "emt"})
    out = tmp_path / "ref.json"
    energies = run_reference_energies(rcfg, str(out))
    expected = make_oracle(rcfg.cfg.oracle).isolated_atom_energy("Cu")
    assert json.loads(out.read_text()) == energies == {"Cu": expected}
    assert expected != 0.0  # EMT's isolated Cu atom is not its zero
