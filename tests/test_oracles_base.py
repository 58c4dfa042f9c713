"""The machinery the DFT oracles share (components/oracles/external.DFTOracle), without a DFT code:
directory lookup, program launch with the log tail, the convergence check and the label checks."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from mlip_autopipec.components.oracles.cp2k import CP2KOracle
from mlip_autopipec.components.oracles.espresso import SHIPPED_PSEUDO_DIR, EspressoOracle
from mlip_autopipec.components.oracles.vasp import VaspOracle
from mlip_autopipec.core.errors import OracleError
from mlip_autopipec.domain_models.oracle_config import EspressoOracleConfig, VaspOracleConfig


def test_each_code_gets_its_own_default_config():
    assert isinstance(EspressoOracle().cfg, EspressoOracleConfig)
    assert isinstance(VaspOracle(cores=2).cfg, VaspOracleConfig) and VaspOracle(cores=2).cores == 2


def test_directory_lookup_is_config_then_environment_then_default(tmp_path, monkeypatch):
    monkeypatch.delenv("ESPRESSO_PSEUDO", raising=False)
    assert EspressoOracle().pseudo_dir() == SHIPPED_PSEUDO_DIR
    monkeypatch.setenv("ESPRESSO_PSEUDO", str(tmp_path / "env"))
    assert EspressoOracle().pseudo_dir() == tmp_path / "env"
    assert EspressoOracle()._pseudo_dir_field() == f"$ESPRESSO_PSEUDO ({tmp_path / 'env'})"
    oracle = EspressoOracle(EspressoOracleConfig(pseudo_dir=str(tmp_path / "cfg")))
    assert oracle.pseudo_dir() == tmp_path / "cfg"
    monkeypatch.delenv("VASP_PP_PATH", raising=False)
    assert VaspOracle().pp_path() is None
    monkeypatch.setenv("CP2K_DATA_DIR", str(tmp_path))
    assert CP2KOracle().data_dir() == tmp_path


def test_launch_failure_names_the_program_and_the_end_of_its_output(tmp_path):
    oracle = VaspOracle()
    with pytest.raises(OracleError, match=r"^vasp exited with code 3: err 2 \| err 3 \| err 4$"):
        oracle.launch("echo out; for k in 1 2 3 4; do echo err $k >&2; done; exit 3", tmp_path, "vasp")
    assert (tmp_path / "vasp.out").read_text() == "out\n"  # stdout and stderr kept apart
    assert oracle.launch("true", tmp_path, "ok") >= 0.0


def test_unconverged_run_is_an_oracle_error_with_what_to_tune(tmp_path):
    oracle = EspressoOracle(EspressoOracleConfig(max_scf_iterations=7))
    (tmp_path / "espresso.pwo").write_text("     convergence NOT achieved after   7 iterations: stopping\n")
    with pytest.raises(OracleError, match=r"^espresso: SCF not converged in 7 iterations \(oracle.max_scf_iterations; "
                                          r"or oracle.input_data.electrons.mixing_beta\)$"):
        oracle.check_converged(tmp_path)
    (tmp_path / "espresso.pwo").write_text("     convergence has been achieved in   9 iterations\n")
    oracle.check_converged(tmp_path)


def test_label_from_results_checks_stress_and_numbers():
    atoms = bulk("Si", "diamond", a=5.43)
    oracle = VaspOracle()
    forces = np.zeros((2, 3))
    with pytest.raises(OracleError, match=r"vasp returned no stress tensor \(ISIF=0\?\).*need_stress: false"):
        oracle.label_from_results(atoms, -10.0, forces, None, isolated=False, wall_time_s=1.0, stress_why=" (ISIF=0?)")
    isolated = oracle.label_from_results(atoms, -10.0, forces, None, isolated=True, wall_time_s=1.0)
    assert isolated.get_potential_energy() == -10.0 and "oracle_settings" not in isolated.info
    with pytest.raises(OracleError, match="non-finite forces"):
        oracle.label_from_results(atoms, -10.0, np.full((2, 3), np.nan), np.zeros(6), isolated=False, wall_time_s=1.0)
    label = oracle.label_from_results(atoms, -10.0, forces, np.ones(6), isolated=False, wall_time_s=1.0,
                                      energy_sigma0=-10.5)
    assert label.info["energy_sigma0"] == -10.5 and label.get_stress().tolist() == [1.0] * 6
