"""GPAW as the oracle: real plane-wave DFT on a rattled 8-atom Si cell (needs tools/install_oracles.sh)."""

import json
import time
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from conftest import require_module
from mlip_autopipec.components.registry import make_oracle
from mlip_autopipec.core.errors import OracleError, UserError
from mlip_autopipec.domain_models.oracle_config import GPAWOracleConfig



@pytest.fixture(autouse=True, scope="module")
def gpaw_installed():
    require_module("gpaw", "bash tools/install_oracles.sh .venv/bin/pip")


# Tight SCF so that finite differences of the energy are meaningful (GPAW's default energy
# tolerance, 0.5 meV per electron, would be 16 meV here: 0.4 eV/Å of noise at h = 0.02 Å;
# 1 µeV per electron is 0.001 eV/Å).
TIGHT = {"convergence": {"energy": 1e-6, "density": 1e-5, "eigenstates": 1e-9}}


def rattled_si8(seed=7, stdev=0.05):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(stdev, seed=seed)
    return atoms


def test_gpaw_forces_agree_with_finite_differences_of_its_own_energy(tmp_path):
    cfg = GPAWOracleConfig(cutoff_ev=250, kpoints={"grid": [2, 2, 2]}, parameters=TIGHT)
    oracle = make_oracle(cfg, scratch_root=tmp_path)
    oracle.check_setup()
    oracle.check_elements(["Si"])
    atoms = rattled_si8()
    t0 = time.perf_counter()
    labelled = oracle.label(atoms)
    wall = time.perf_counter() - t0
    forces = labelled.get_forces()
    assert labelled.get_stress().shape == (6,) and np.all(np.isfinite(labelled.get_stress()))
    assert np.abs(forces.sum(axis=0)).max() < 0.01  # translation invariance
    assert labelled.info["oracle"] == "gpaw" and 0 < labelled.info["oracle_wall_time_s"] <= wall
    settings = json.loads(labelled.info["oracle_settings"])
    assert settings["cutoff_ev"] == 250 and settings["kpoint_grid"] == [2, 2, 2] and settings["xc"] == "PBE"

    h = 0.02
    worst = 0.0
    for atom, axis in [(0, 0), (3, 2)]:
        energies = []
        for sign in (+1, -1):
            displaced = atoms.copy()
            displaced.positions[atom, axis] += sign * h
            energies.append(oracle.label(displaced).get_potential_energy())
        fd = -(energies[0] - energies[1]) / (2 * h)
        worst = max(worst, abs(fd - forces[atom, axis]))
        print(f"atom {atom} axis {axis}: analytic {forces[atom, axis]:+.4f}  finite difference {fd:+.4f} eV/Å")
    print(f"GPAW 8-atom Si label: {wall:.1f} s; max |F - F_fd| = {worst:.4f} eV/Å")
    assert worst < 0.05
    assert not list(tmp_path.iterdir())  # successful run directories are removed


def test_gpaw_scf_not_converged_is_an_oracle_error_with_the_run_kept(tmp_path):
    oracle = make_oracle(GPAWOracleConfig(cutoff_ev=200, kpoints={"grid": [1, 1, 1]}, max_scf_iterations=2),
                         scratch_root=tmp_path)
    with pytest.raises(OracleError, match=r"SCF not converged in 2 iterations \(oracle.max_scf_iterations") as err:
        oracle.label(rattled_si8())
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("failed-gpaw-")]
    assert len(kept) == 1 and str(kept[0]) in str(err.value) and (kept[0] / "gpaw.txt").is_file()


def test_gpaw_missing_setups_are_a_user_error_naming_the_field():
    with pytest.raises(UserError, match=r"oracle\.setups: GPAW has no usable 'no-such-setups' setup for Si"):
        make_oracle(GPAWOracleConfig(setups="no-such-setups")).check_elements(["Si"])


def test_gpaw_under_mpi_gives_the_serial_result(tmp_path):
    """cores > 1: GPAW runs under `mpirun -np 2` through gpaw_driver and agrees with one core."""
    atoms = bulk("Si", "diamond", a=5.43)  # 2 atoms
    atoms.rattle(0.05, seed=3)
    cfg = GPAWOracleConfig(cutoff_ev=200, kpoints={"grid": [2, 2, 2]})
    serial = make_oracle(cfg, cores=1, scratch_root=tmp_path).label(atoms)
    parallel_oracle = make_oracle(cfg, cores=2, scratch_root=tmp_path)
    assert parallel_oracle.command("x").endswith("mpirun -np 2 x")
    parallel = parallel_oracle.label(atoms)
    assert json.loads(parallel.info["oracle_settings"])["cores"] == 2
    assert parallel.get_potential_energy() == pytest.approx(serial.get_potential_energy(), abs=1e-4)
    np.testing.assert_allclose(parallel.get_forces(), serial.get_forces(), atol=2e-3)
    np.testing.assert_allclose(parallel.get_stress(), serial.get_stress(), atol=1e-4)


def test_gpaw_isolated_atom_energy_is_spin_polarised_and_cheap(tmp_path):
    oracle = make_oracle(GPAWOracleConfig(cutoff_ev=200, isolated_atom_box=7.0), scratch_root=tmp_path)
    t0 = time.perf_counter()
    energy = oracle.isolated_atom_energy("Si")
    print(f"isolated Si atom, 7 Å box: {energy:.4f} eV in {time.perf_counter() - t0:.1f} s")
    # GPAW energies are relative to the reference atom; a spin-polarised Si atom lies ~0.8-1 eV below
    assert -1.5 < energy < -0.5
    assert not any(Path(tmp_path).iterdir())
