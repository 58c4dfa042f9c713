"""steps/initial.py called directly on the mock scenario (no Snakemake)."""

from __future__ import annotations

import json

import numpy as np
import pytest
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


def test_initial_stage_advises_a_wider_cell_when_all_are_narrow(tmp_path, caplog):
    narrow = {"kind": "bulk", "element": "Cu", "crystal": "fcc", "a": 3.61, "cubic": True, "supercell": [2, 2, 2]}
    rcfg = mock_config(tmp_path, structures=[narrow])  # 7.22 Å < 2 x the mock's 5 Å cutoff
    with caplog.at_level("WARNING", logger="mlip_autopipec.steps.initial"):
        run_initial_structures(rcfg, str(tmp_path / "a.xyz"))
    assert any("narrower than 2 x the cutoff" in r.getMessage() for r in caplog.records)

    caplog.clear()
    wide = dict(narrow, supercell=[3, 3, 3])
    rcfg = mock_config(tmp_path, structures=[narrow, wide])
    with caplog.at_level("WARNING", logger="mlip_autopipec.steps.initial"):
        run_initial_structures(rcfg, str(tmp_path / "b.xyz"))
    assert not any("narrower than 2 x the cutoff" in r.getMessage() for r in caplog.records)


def test_surface_slabs_join_the_initial_set_rattled_per_facet(tmp_path):
    """initial_data.surface_slabs: the properties stage's three fcc facets, 2x2 in plane, rattled."""
    from ase.build import fcc100, fcc110, fcc111

    rcfg = mock_config(tmp_path, oracle={"kind": "emt"}, properties={"enabled": True},
                       initial_data={"surface_slabs": True, "n_rattled": 1, "strains": []})
    layers, vacuum = rcfg.cfg.properties.slab_layers, rcfg.cfg.properties.vacuum
    n = run_initial_structures(rcfg, str(tmp_path / "a.xyz"))
    frames = read_structures(tmp_path / "a.xyz")
    slabs = [f for f in frames if f.info["source"] == "initial:surface_slab"]
    copies = rcfg.cfg.initial_data.surface_slab_copies
    assert n == len(frames) == rcfg.cfg.n_initial_structures() == 2 + 3 * copies  # original + 1 rattled + slabs
    assert sorted(f.info["facet"] for f in slabs) == sorted(["surface_111", "surface_100", "surface_110"] * copies)
    a = rcfg.cfg.structures[0].a
    ideal = {"111": fcc111, "100": fcc100, "110": fcc110}
    for f in slabs:
        ref = ideal[f.info["facet"].removeprefix("surface_")]("Cu", size=(2, 2, layers), a=a, vacuum=vacuum, periodic=True)
        assert len(f) == 4 * layers and np.allclose(f.cell, ref.cell)
        shift = f.positions - ref.positions
        assert 0.2 * rcfg.cfg.initial_data.rattle_amplitude() < shift.std() < 3 * rcfg.cfg.initial_data.rattle_amplitude()
        assert f.info["structure_index"] == -1


def test_deformed_cells_join_the_initial_set(tmp_path):
    """initial_data.cell_strain_copies: the property crystal's starting cell in randomly deformed cells, each
    strain component within cell_strain_fraction, rattled; the strain recorded is the cell's own."""
    rcfg = mock_config(tmp_path, oracle={"kind": "emt"}, properties={"enabled": True},
                       initial_data={"cell_strain_copies": 3, "cell_strain_fraction": 0.02, "surface_slabs": False,
                                     "n_rattled": 1, "strains": []})
    n = run_initial_structures(rcfg, str(tmp_path / "a.xyz"))
    frames = read_structures(tmp_path / "a.xyz")
    base = starting_structures(rcfg)[0]
    deformed = [f for f in frames if f.info["source"] == "initial:cell_strain"]
    assert n == len(frames) == rcfg.cfg.n_initial_structures() == 2 + 3 and len(deformed) == 3
    for f in deformed:
        eps = np.linalg.solve(base.cell.array, f.cell.array) - np.eye(3)  # cell = base @ (1 + eps)
        assert np.allclose(eps, eps.T, atol=1e-9) and np.abs(eps).max() <= 0.02
        voigt = [eps[0, 0], eps[1, 1], eps[2, 2], 2 * eps[1, 2], 2 * eps[0, 2], 2 * eps[0, 1]]
        assert np.allclose(f.info["cell_strain"], voigt, atol=1e-6)
        assert np.abs(np.diag(eps) - np.trace(eps) / 3).max() > 1e-4  # not an isotropic strain
        ideal = base.get_scaled_positions() @ f.cell.array
        shift = f.positions - ideal
        shift -= shift.mean(axis=0)
        assert 0.2 * rcfg.cfg.initial_data.rattle_amplitude() < shift.std() < 3 * rcfg.cfg.initial_data.rattle_amplitude()
        assert f.info["structure_index"] == 0


def test_the_cheap_levels_reference_energies_come_from_the_cheap_oracle(tmp_path):
    """Two-level labelling: EMT as the cheap level of a mock (Morse, no one-body term: 0 eV) run; its isolated
    Cu atom computed here with EMT itself."""
    from ase import Atoms
    from ase.calculators.emt import EMT

    from mlip_autopipec.core.io import read_json
    from mlip_autopipec.steps.initial import run_reference_energies

    rcfg = mock_config(tmp_path, cheap_oracle={"kind": "emt"})
    run_reference_energies(rcfg, str(tmp_path / "dft.json"))
    run_reference_energies(rcfg, str(tmp_path / "cheap.json"), level="cheap")
    atom = Atoms("Cu", pbc=False)
    atom.center(vacuum=6.0)
    atom.calc = EMT()
    assert read_json(tmp_path / "dft.json") == {"Cu": 0.0}
    assert read_json(tmp_path / "cheap.json")["Cu"] == pytest.approx(atom.get_potential_energy(), abs=1e-6)
