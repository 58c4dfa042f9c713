"""Oracle settings and the machinery every real oracle shares (fast: no DFT code runs here)."""

import json
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from pydantic import ValidationError

from mlip_autopipec.components.oracles.external import ExternalOracle
from mlip_autopipec.components.registry import make_oracle
from mlip_autopipec.core.errors import ConfigError, OracleError, UserError
from mlip_autopipec.core.io import read_structures, write_structures
from mlip_autopipec.domain_models.config import config_from_dict
from mlip_autopipec.domain_models.oracle_config import (
    AseCalculatorOracleConfig,
    CP2KOracleConfig,
    EspressoOracleConfig,
    GPAWOracleConfig,
    KPointsConfig,
    VaspOracleConfig,
)


def si8():
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.03, seed=1)
    return atoms


@pytest.mark.parametrize("kind", ["gpaw", "espresso", "cp2k", "vasp"])
def test_every_dft_kind_parses_from_a_config_with_shared_fields(tmp_path, kind):
    raw = {"oracle": {"kind": kind, "kpoints": {"grid": [2, 2, 2]}, "smearing": {"width_ev": 0.05},
                      "max_scf_iterations": 40, "launcher": "srun", "timeout_s": 100, "need_stress": False}}
    cfg = config_from_dict(raw, tmp_path / "config.yaml").cfg.oracle
    assert cfg.kind == kind and cfg.kpoints.grid == (2, 2, 2) and cfg.smearing.width_ev == 0.05
    assert cfg.max_scf_iterations == 40 and cfg.timeout_s == 100 and cfg.need_stress is False


def test_unknown_kind_and_key_of_another_kind_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="oracle"):
        config_from_dict({"oracle": {"kind": "siesta"}}, tmp_path / "config.yaml")
    with pytest.raises(ConfigError, match="pseudo_dir"):  # an espresso key under gpaw
        config_from_dict({"oracle": {"kind": "gpaw", "pseudo_dir": "x"}}, tmp_path / "config.yaml")


def test_kpoints_density_or_grid():
    assert KPointsConfig().density == 3.0
    with pytest.raises(ValidationError, match="not both"):
        KPointsConfig(density=2.0, grid=(2, 2, 2))
    with pytest.raises(ValidationError, match="positive"):
        KPointsConfig(grid=(0, 2, 2))
    cell = np.diag([5.43, 5.43, 10.86])
    # |b| = 2π/5.43 = 1.157 Å⁻¹: density 3 → ceil(3.47) = 4; the long axis gets 2
    assert KPointsConfig(density=3.0).grid_for(cell, [True] * 3) == (4, 4, 2)
    assert KPointsConfig(density=3.0).grid_for(cell, [True, True, False]) == (4, 4, 1)
    assert KPointsConfig(grid=(3, 3, 3)).grid_for(cell, [True, False, True]) == (3, 1, 3)


def test_code_specific_smearing_limits():
    with pytest.raises(ValidationError, match="CP2K"):
        CP2KOracleConfig(smearing={"method": "gaussian"})
    with pytest.raises(ValidationError, match="VASP"):
        VaspOracleConfig(smearing={"method": "marzari-vanderbilt"})


def test_relative_paths_resolve_against_the_config_file_with_context(tmp_path, monkeypatch):
    cfg = EspressoOracleConfig.model_validate({"pseudo_dir": "pseudo", "scratch_dir": "$MY_SCRATCH/runs"},
                                              context={"base_dir": tmp_path})
    assert cfg.pseudo_dir == str(tmp_path / "pseudo")
    monkeypatch.setenv("MY_SCRATCH", "/scratch/me")
    cfg = EspressoOracleConfig.model_validate({"scratch_dir": "$MY_SCRATCH/runs"}, context={"base_dir": tmp_path})
    assert cfg.scratch_dir == "/scratch/me/runs"
    assert EspressoOracleConfig(pseudo_dir="pseudo").pseudo_dir == "pseudo"  # no context: as given


def test_launcher_cores_and_environment():
    one = make_oracle(EspressoOracleConfig(), cores=1)
    assert one.command("pw.x") == "pw.x" and one.run_env()["OMP_NUM_THREADS"] == "1"
    four = make_oracle(EspressoOracleConfig(), cores=4)
    assert four.command("pw.x").endswith("mpirun -np 4 pw.x")
    assert four.run_env()["OMP_NUM_THREADS"] == "1" and four.run_env()["OPENBLAS_NUM_THREADS"] == "1"
    slurm = make_oracle(EspressoOracleConfig(launcher="srun --cpu-bind=cores -n {cores}"), cores=8)
    assert slurm.command("pw.x") == "srun --cpu-bind=cores -n 8 pw.x"
    threads = make_oracle(EspressoOracleConfig(launcher=""), cores=4)  # no MPI: OpenMP threads
    assert threads.command("pw.x") == "pw.x" and threads.run_env()["OMP_NUM_THREADS"] == "4"


def test_default_mpirun_skips_a_pip_installed_mpi_in_the_python_environment(tmp_path, monkeypatch):
    import sys

    from mlip_autopipec.components.oracles.external import default_mpirun

    for d in ("venv/bin", "usr/bin"):
        (tmp_path / d).mkdir(parents=True)
        (tmp_path / d / "mpirun").write_text("#!/bin/sh\n")
        (tmp_path / d / "mpirun").chmod(0o755)
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.setenv("PATH", f"{tmp_path / 'venv/bin'}:{tmp_path / 'usr/bin'}")
    assert default_mpirun() == str(tmp_path / "usr/bin/mpirun")
    monkeypatch.setenv("PATH", f"{tmp_path / 'venv/bin'}")
    assert default_mpirun() == "mpirun"  # the only one: used
    monkeypatch.setenv("PATH", f"{tmp_path / 'usr/bin'}:{tmp_path / 'venv/bin'}")
    assert default_mpirun() == "mpirun"  # the system one comes first anyway


def test_missing_launcher_is_a_user_error_naming_the_field():
    oracle = make_oracle(EspressoOracleConfig(launcher="no-such-mpirun -np {cores}"))
    with pytest.raises(UserError, match=r"oracle\.launcher: 'no-such-mpirun' not found"):
        oracle.check_launcher()


class _Boom(ExternalOracle):
    name = "boom"

    def compute(self, atoms, rundir, isolated):
        (rundir / "out.txt").write_text("the code's output\n")
        raise RuntimeError("segfault in the solver")

    def diagnose(self, rundir):
        return "solver crashed" if (rundir / "out.txt").is_file() else None


def test_failed_run_directory_is_kept_and_named_in_the_error(tmp_path):
    oracle = _Boom(AseCalculatorOracleConfig(calculator="ase.calculators.emt.EMT"), scratch_root=tmp_path)
    with pytest.raises(OracleError) as err:
        oracle.label(si8())
    message = str(err.value)
    assert "solver crashed" in message and "RuntimeError: segfault in the solver" in message
    kept = Path(message.split("run directory kept: ")[1].rstrip("]"))
    assert kept.name.startswith("failed-boom-") and (kept / "out.txt").read_text() == "the code's output\n"
    assert [p.name for p in tmp_path.iterdir()] == [kept.name]  # nothing else left behind


def test_ase_calculator_oracle_by_import_path_records_its_settings(tmp_path):
    cfg = AseCalculatorOracleConfig(calculator="ase.calculators.lj.LennardJones",
                                    parameters={"sigma": 2.1, "epsilon": 0.1, "rc": 5.0})
    oracle = make_oracle(cfg, scratch_root=tmp_path)
    oracle.check_setup()
    labelled = oracle.label(si8())
    assert labelled.info["oracle"] == "ase" and labelled.info["oracle_wall_time_s"] > 0
    settings = json.loads(labelled.info["oracle_settings"])
    assert settings["calculator"] == "ase.calculators.lj.LennardJones" and settings["parameters"]["sigma"] == 2.1
    assert labelled.get_stress().shape == (6,)
    # the record survives the extxyz round trip the pipeline does
    write_structures(tmp_path / "l.extxyz", [labelled])
    back = read_structures(tmp_path / "l.extxyz")[0]
    assert json.loads(back.info["oracle_settings"]) == settings
    np.testing.assert_allclose(back.get_forces(), labelled.get_forces(), atol=1e-7)
    assert not any(tmp_path.glob("ase-*"))  # successful run directories are removed
    assert oracle.isolated_atom_energy("Si") == pytest.approx(0.0, abs=1e-9)  # LJ: no one-body term


def test_ase_calculator_oracle_setup_errors_name_the_field():
    with pytest.raises(UserError, match=r"oracle\.calculator: cannot import no_such_pkg"):
        make_oracle(AseCalculatorOracleConfig(calculator="no_such_pkg.Calc")).check_setup()
    with pytest.raises(UserError, match=r"oracle\.calculator: ase\.calculators\.emt has no EMTT"):
        make_oracle(AseCalculatorOracleConfig(calculator="ase.calculators.emt.EMTT")).check_setup()
    with pytest.raises(UserError, match=r"oracle\.parameters"):
        # SinglePointCalculator needs `atoms`: the constructor's TypeError names the field
        make_oracle(AseCalculatorOracleConfig(calculator="ase.calculators.singlepoint.SinglePointCalculator",
                                              parameters={"energy": 1.0})).check_setup()
    with pytest.raises(ValidationError):
        AseCalculatorOracleConfig(calculator="not a path")


def test_missing_stress_is_a_clear_failure_unless_disabled(tmp_path):
    from ase.calculators.calculator import Calculator, all_changes

    class NoStress(Calculator):
        implemented_properties = ["energy", "forces"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            self.results = {"energy": 1.0, "forces": np.zeros((len(self.atoms), 3))}

    import sys
    import types

    module = types.ModuleType("fake_nostress")
    module.NoStress = NoStress
    sys.modules["fake_nostress"] = module
    try:
        strict = make_oracle(AseCalculatorOracleConfig(calculator="fake_nostress.NoStress"), scratch_root=tmp_path)
        with pytest.raises(UserError, match=r"oracle\.need_stress"):
            strict.check_setup()
        with pytest.raises(OracleError, match="no stress tensor.*need_stress: false"):
            strict.label(si8())
        relaxed = make_oracle(AseCalculatorOracleConfig(calculator="fake_nostress.NoStress", need_stress=False),
                              scratch_root=tmp_path)
        relaxed.check_setup()
        labelled = relaxed.label(si8())
        assert labelled.get_potential_energy() == 1.0 and "stress" not in labelled.calc.results
    finally:
        del sys.modules["fake_nostress"]


def test_reference_energies_from_the_config_skip_the_calculation():
    oracle = make_oracle(GPAWOracleConfig(reference_energies={"Si": -0.9876}))
    assert oracle.isolated_atom_energy("Si") == -0.9876  # no GPAW run (and no GPAW import) needed


def test_settings_record_leaves_out_runtime_fields():
    oracle = make_oracle(GPAWOracleConfig(timeout_s=10, scratch_dir="/tmp/x", kpoints={"grid": [2, 2, 2]}), cores=2)
    settings = oracle.settings(si8())
    assert settings["kind"] == "gpaw" and settings["kpoint_grid"] == [2, 2, 2] and settings["cores"] == 2
    assert not {"timeout_s", "scratch_dir", "keep_runs", "launcher"} & set(settings)
