"""The matrix benchmark's minimal configs (benchmarks/matrix.py) are valid configs, and its GPAW system
uses the oracle settings whose label noise was measured (examples/si_gpaw, benchmarks/RESULTS.md)."""

import functools
import importlib.util
import sys

import numpy as np
import pytest
import yaml
from ase.build import bulk

from conftest import REPO, require_module
from mlip_autopipec.domain_models.config import config_from_dict


@functools.cache
def matrix():
    spec = importlib.util.spec_from_file_location("benchmark_matrix", REPO / "benchmarks" / "matrix.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(matrix().systems()))
def test_every_matrix_config_validates(name, tmp_path):
    cfg, files = matrix().systems()[name]
    rcfg = config_from_dict({"seed": 1, **cfg}, tmp_path / "config.yaml")
    assert len(rcfg.cfg.exploration.conditions) == 2
    assert set(files) == {s["path"] for s in cfg["structures"] if s["kind"] == "file"}


def test_si_k_points_are_the_same_on_the_training_and_the_held_out_supercell(tmp_path):
    """Default density 3.0 per Å^-1: n = ceil(3.0 x 2 pi / L) is 4 for L = 5.43 Å, 2 for 10.86 Å, and a
    shifted 2-grid in the doubled cell folds onto the shifted 4-grid of the 8-atom cell."""
    example = yaml.safe_load((REPO / "examples" / "si_gpaw" / "config.yaml").read_text())["oracle"]
    ours = config_from_dict({"seed": 1, **matrix().si_cfg()}, tmp_path / "config.yaml").cfg.oracle
    assert ours.kind == "gpaw" and ours.cutoff_ev == example["cutoff_ev"] and ours.xc == example["xc"]
    si8 = bulk("Si", "diamond", a=5.43, cubic=True)
    assert ours.kpoints.grid_for(si8.cell, si8.pbc) == (4, 4, 4)
    si16 = si8.repeat((2, 1, 1))
    assert ours.kpoints.grid_for(si16.cell, si16.pbc) == (2, 4, 4)
    assert ours.kpoints.gamma is False


def test_si_held_out_frames_are_driven_by_the_potential_and_labelled_by_gpaw():
    m = matrix()
    assert m.HELD_OUT["si"].driver == "potential"
    assert m.HeldOut().driver == "oracle"  # the EMT systems: EMT drives and labels


@pytest.mark.slow
def test_oracle_labels_are_gpaw_labels_of_the_frame(tmp_path):
    """A 2-atom Si cell at a low cutoff (~1 s): the reference stored on the frame is the oracle's."""
    require_module("gpaw", "bash tools/install_oracles.sh .venv/bin/pip")
    cfg = {"seed": 1, "structures": [{"kind": "bulk", "element": "Si", "crystal": "diamond", "cubic": False,
                                      "supercell": [1, 1, 1]}],
           "exploration": {"conditions": [{"name": "t", "temperature": 300}]},
           "oracle": {"kind": "gpaw", "cutoff_ev": 200, "kpoints": {"grid": [2, 2, 2]}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    si2 = bulk("Si", "diamond", a=5.43)
    si2.positions[1] += [0.05, 0.0, 0.0]  # pushed along x from the bond-centred site: a restoring force
    (frame,) = matrix().oracle_labels(tmp_path, [si2])
    forces = frame.arrays["ref_forces"]
    np.testing.assert_allclose(frame.positions, si2.positions)
    assert np.abs(forces.sum(axis=0)).max() < 0.05  # Newton's third law in a periodic crystal
    assert forces[1, 0] < -0.1 and forces[0, 0] > 0.1
    assert -12.0 < frame.info["energy"] / 2 < -4.0  # PBE Si in GPAW's PAW reference: about -5.4 eV/atom
    assert (tmp_path / "heldout_oracle_runs").is_dir()
