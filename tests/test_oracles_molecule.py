"""A molecule labelled for real by DFT: GPAW computes H2O (no cell, pbc F F F) in a box padded by
`oracle.box_padding`; the label describes the molecule as given (needs tools/install_oracles.sh)."""

import json

import numpy as np
import pytest
from ase.build import molecule

from conftest import require_module
from mlip_autopipec.components.registry import make_oracle
from mlip_autopipec.domain_models.oracle_config import GPAWOracleConfig

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def gpaw_installed():
    """GPAW is a test requirement (CI installs it): missing, the test fails in CI instead of skipping."""
    require_module("gpaw", "bash tools/install_oracles.sh .venv/bin/pip")


def test_gpaw_labels_a_water_molecule_in_a_box(tmp_path):
    water = molecule("H2O")  # no cell
    stretched = water.copy()
    oh = stretched.positions[1] - stretched.positions[0]
    stretched.positions[1] = stretched.positions[0] + oh / np.linalg.norm(oh) * 1.15  # O-H 0.97 -> 1.15 Å
    cfg = GPAWOracleConfig(cutoff_ev=300, box_padding=3.5, xc="PBE")
    oracle = make_oracle(cfg, scratch_root=tmp_path)
    oracle.check_elements(["H", "O"])

    labelled = oracle.label(stretched)
    # the label is the molecule as given: no cell, no periodicity, same positions, no stress
    assert not labelled.pbc.any() and labelled.cell.rank == 0
    np.testing.assert_allclose(labelled.positions, stretched.positions)
    assert "stress" not in labelled.calc.results
    settings = json.loads(labelled.info["oracle_settings"])
    assert settings["kpoint_grid"] == [1, 1, 1] and settings["box_padding"] == 3.5
    forces = labelled.get_forces()
    # translation invariance, up to the egg-box error of a real-space grid at a cutoff this low for O
    assert np.abs(forces.sum(axis=0)).max() < 0.5
    # the stretched bond pulls H1 back towards O and O towards H1, with forces of the size PBE gives
    u = oh / np.linalg.norm(oh)
    along = forces[1] @ u
    assert -8.0 < along < -2.0
    assert 2.0 < forces[0] @ u < 8.0
    print(f"GPAW H2O in a box: E = {labelled.get_potential_energy():.3f} eV, F(H1) along O-H = {along:.2f} eV/Å")
