"""PacemakerTrainer: a tiny real non-linear pacemaker fit (TensorFlow backend) and an upfit.

The real-fit tests need the pacemaker environment (tools/install_pacemaker_extra.sh), found as in
a real run; under CI (CI=1 / MLIP_CI=1) a missing one fails them, elsewhere they are skipped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from mlip_autopipec.components.base import PotentialFiles
from mlip_autopipec.components.trainers import pacemaker as pm
from mlip_autopipec.components.trainers import pacemaker_driver, pacemaker_env
from mlip_autopipec.core.errors import TrainingError, UserError
from mlip_autopipec.core.seeds import derive_seed
from mlip_autopipec.domain_models.config import AceBasisConfig, PacemakerTrainerConfig
from pacemaker_support import emt_isolated_energy, emt_labelled_cu_cells, require_pacemaker_python

FIRST_ITERATIONS = 15
UPFIT_ITERATIONS = 8


def _labelled_cu_cells(n: int, seed: int) -> list[Atoms]:
    """Rattled, slightly strained 32-atom fcc Cu cells labelled with EMT."""
    return emt_labelled_cu_cells(n, seed, repeat=2, base_stdev=0.04)


def _cfg(max_iterations: int) -> PacemakerTrainerConfig:
    return PacemakerTrainerConfig(
        basis=AceBasisConfig(cutoff=5.0, number_of_functions_per_element=30, max_order=3),
        max_iterations=max_iterations, upfit=True, kappa=0.3,
    )


@pytest.fixture(scope="module")
def first_fit(tmp_path_factory):
    require_pacemaker_python()
    frames = _labelled_cu_cells(10, seed=1)
    refs = {"Cu": emt_isolated_energy("Cu")}
    out = tmp_path_factory.mktemp("pacemaker_fit0")
    trainer = pm.PacemakerTrainer(_cfg(FIRST_ITERATIONS))
    metrics = trainer.fit(frames, out, refs, previous=None, seed=7)
    return trainer, frames, refs, out, metrics


@pytest.mark.pacemaker
def test_fit_lowers_loss_and_writes_loadable_potential(first_fit):
    trainer, frames, _refs, out, metrics = first_fit
    assert metrics["trainer"] == "pacemaker"
    assert metrics["start"] == "linear"  # BFGS starts from the linear ACE solution (the default)
    assert 0 < metrics["n_iterations"] <= FIRST_ITERATIONS
    assert np.isfinite(metrics["loss_initial"]) and np.isfinite(metrics["loss_final"])
    assert metrics["loss_final"] < metrics["loss_initial"]
    assert 0 < metrics["n_functions"] <= 30
    # a 15-iteration fit is rough, but total energies must be in the right ballpark (the
    # reference energies are added back: a missing E0 would give ~3.5 eV/atom)
    assert metrics["train_energy_rmse_per_atom"] < 0.2
    assert metrics["train_force_rmse"] < 0.5

    files = PotentialFiles.in_dir(out)
    for path in (files.yaml, files.yace, files.asi, out / pm.LOG_NAME, out / pm.METRICS_NAME):
        assert path.is_file() and path.stat().st_size > 0, path
    assert not (out / pm.SCRATCH_DIR).exists()
    assert not list(out.glob(".*.tmp")), "temporary files left behind"

    from pyace import ACECTildeBasisSet, PyACECalculator

    probe = frames[0].copy()
    probe.calc = PyACECalculator(str(files.yaml))
    assert np.isfinite(probe.get_forces()).all()

    # gamma through the trainer's calculator (B-basis yaml + active set)
    calc = trainer.calculator(files, with_gamma=True)
    probe = frames[3].copy()
    probe.calc = calc
    e_yaml = probe.get_potential_energy()
    assert abs(e_yaml - frames[3].get_potential_energy()) / len(probe) < 0.2
    gamma = np.asarray(calc.results["gamma"])
    assert gamma.shape == (len(probe),) and np.isfinite(gamma).all()
    assert gamma.max() < 2.0  # a training structure is inside the active set's domain

    # the .yace (C-tilde basis, used by LAMMPS) gives the same total energy as the yaml
    probe_yace = frames[3].copy()
    probe_yace.calc = PyACECalculator(ACECTildeBasisSet(str(files.yace)))
    assert probe_yace.get_potential_energy() == pytest.approx(e_yaml, abs=1e-4)


@pytest.mark.pacemaker
def test_upfit_starts_from_previous_potential(first_fit, tmp_path):
    _trainer, frames, refs, out0, metrics0 = first_fit
    dataset = frames + _labelled_cu_cells(3, seed=2)
    trainer = pm.PacemakerTrainer(_cfg(UPFIT_ITERATIONS))
    metrics = trainer.fit(dataset, tmp_path, refs, previous=PotentialFiles.in_dir(out0), seed=8)
    assert metrics["start"] == "upfit"
    assert metrics["n_structures"] == 13
    import yaml

    ran = yaml.safe_load((tmp_path / pm.INPUT_NAME).read_text())
    assert ran["potential"] == "previous.yaml"
    # continuing from the fitted coefficients starts near the previous optimum (a start from zero
    # coefficients is ~4 orders of magnitude higher)
    assert metrics["loss_initial"] < 10 * metrics0["loss_final"]
    assert metrics["loss_final"] <= metrics["loss_initial"]
    assert PotentialFiles.in_dir(tmp_path).asi.is_file()


# ---- no TensorFlow needed below -------------------------------------------------------------
@pytest.fixture
def no_pacemaker_env(monkeypatch, tmp_path):
    """No pacemaker environment anywhere: no variables, no .venv-pacemaker, running python without TF."""
    for var in (pacemaker_env.ENV_PYTHON, pacemaker_env.ENV_VENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(pacemaker_env, "_candidates", lambda: [("nowhere", tmp_path / "absent" / "python")])
    monkeypatch.setattr(pacemaker_env.sys, "executable", str(_bare_python(tmp_path)))
    pacemaker_env._find.cache_clear()
    yield
    pacemaker_env._find.cache_clear()


def _bare_python(tmp_path: Path) -> Path:
    """A real interpreter without tensorpotential/pyace: a fresh venv without packages."""
    venv = tmp_path / "bare_venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv / "bin" / "python"


def test_missing_pacemaker_environment_is_a_user_error_naming_the_install_script(no_pacemaker_env):
    with pytest.raises(UserError, match="needs its own environment.*install_pacemaker_extra.sh"):
        pm.PacemakerTrainer(_cfg(5)).check_setup()
    with pytest.raises(UserError, match="install_pacemaker_extra.sh"):  # fit checks before any work
        pm.PacemakerTrainer(_cfg(5)).fit(_labelled_cu_cells(1, seed=0), "unused", {"Cu": 0.0}, None, 0)


def test_given_interpreter_without_tensorpotential_is_a_user_error(no_pacemaker_env, tmp_path, monkeypatch):
    bare = _bare_python(tmp_path / "other")
    cfg = _cfg(5).model_copy(update={"python": str(bare)})
    with pytest.raises(UserError, match=r"trainer.python\).*lacks tensorpotential.*install_pacemaker_extra"):
        pm.PacemakerTrainer(cfg).check_setup()
    cfg = _cfg(5).model_copy(update={"python": "no-such-python-3.11"})
    with pytest.raises(UserError, match="trainer.python: 'no-such-python-3.11' is not"):
        pm.PacemakerTrainer(cfg).check_setup()
    # an environment variable, once set, must point at a working interpreter (no silent fallback)
    monkeypatch.setenv(pacemaker_env.ENV_PYTHON, str(tmp_path / "missing" / "python"))
    with pytest.raises(UserError, match=r"\$MLIP_PACEMAKER_PYTHON\).*lacks <not runnable>"):
        pm.PacemakerTrainer(_cfg(5)).check_setup()


def test_seed_handed_to_pacemaker_fits_numpy_legacy_seed(monkeypatch, tmp_path):
    """A real run's train seed (63 bits) is reduced below 2**32 for pacemaker's np.random.seed."""
    monkeypatch.setattr(pm, "check_pacemaker_setup", lambda cfg: Path(sys.executable))
    seed = derive_seed(42, "train", "initial")
    assert seed >= 2**32  # the case the issue reports (np.random.seed rejects it)
    seen = {}

    def fake_run(self, work, python):
        import yaml

        seen["seed"] = yaml.safe_load((work / "input.yaml").read_text())["seed"]
        raise TrainingError("stop after writing the inputs")

    monkeypatch.setattr(pm.PacemakerTrainer, "_run_pacemaker", fake_run)
    with pytest.raises(TrainingError, match="stop after"):
        pm.PacemakerTrainer(_cfg(5)).fit(_labelled_cu_cells(2, seed=0), tmp_path, {"Cu": 3.51}, None, seed)
    assert 0 <= seen["seed"] < 2**32
    assert seen["seed"] == seed % 2**32
    np.random.seed(seen["seed"])  # accepted


def test_driver_builds_pacemaker_dataframe_from_extxyz(tmp_path):
    """The data crosses environments as extxyz; the driver's DataFrame has the labels back."""
    frames = _labelled_cu_cells(3, seed=4)
    pm.write_frames_extxyz(frames, tmp_path / "data.extxyz")
    (tmp_path / "input.yaml").write_text("data: {filename: data.pkl.gzip, reference_energy: {Cu: 0.25}}\n")
    out = pacemaker_driver.prepare(tmp_path / "data.extxyz", tmp_path / "input.yaml")
    df = __import__("pandas").read_pickle(out, compression="gzip")
    assert list(df.columns) == pacemaker_driver.COLUMNS
    for frame, (_, row) in zip(frames, df.iterrows()):
        assert row["NUMBER_OF_ATOMS"] == len(frame) == 32
        assert row["energy"] == pytest.approx(frame.get_potential_energy(), abs=1e-6)
        assert row["energy_corrected"] == pytest.approx(frame.get_potential_energy() - 32 * 0.25, abs=1e-6)
        np.testing.assert_allclose(row["forces"], frame.get_forces(), atol=1e-6)
        np.testing.assert_allclose(row["stress"], frame.get_stress(), atol=1e-6)
        np.testing.assert_allclose(row["ase_atoms"].positions, frame.positions, atol=1e-6)
        assert row["ase_atoms"].calc is None


def test_nan_loss_is_a_training_error(tmp_path):
    table = tmp_path / "metrics.txt"
    table.write_text(
        "ladder_step cycle_step iter_num loss rmse_epa\n"
        "0 0 0 9.2 3.3\n"
        "0 0 1 0.9 0.4\n"
        "0 0 2 nan nan\n"
    )
    with pytest.raises(TrainingError, match="non-finite.*iteration 2"):
        pm.summarize_loss(pm.read_loss_history(table), table)


def test_loss_summary(tmp_path):
    table = tmp_path / "metrics.txt"
    table.write_text("ladder_step cycle_step iter_num loss\n0 0 0 9.2\n0 0 1 0.9\n0 0 2 0.4\n")
    assert pm.summarize_loss(pm.read_loss_history(table), table) == {
        "loss_initial": 9.2, "loss_final": 0.4, "n_iterations": 2}


def test_missing_loss_history_is_a_training_error(tmp_path):
    with pytest.raises(TrainingError, match="no loss history"):
        pm.read_loss_history(tmp_path / "metrics.txt")


def test_nan_loss_during_fit_keeps_no_potential(monkeypatch, tmp_path):
    """A fit whose loss history turns NaN raises TrainingError and writes no potential.yaml."""
    monkeypatch.setattr(pm, "check_pacemaker_setup", lambda cfg: Path(sys.executable))

    def fake_run(self, work, python):
        (work / "metrics.txt").write_text("ladder_step cycle_step iter_num loss\n0 0 0 9.2\n0 0 1 nan\n")
        (work / "output_potential.yaml").write_text("")
        return 0.0

    monkeypatch.setattr(pm.PacemakerTrainer, "_run_pacemaker", fake_run)
    with pytest.raises(TrainingError, match="non-finite"):
        pm.PacemakerTrainer(_cfg(5)).fit(_labelled_cu_cells(2, seed=0), tmp_path, {"Cu": 3.51}, None, 0)
    assert not PotentialFiles.in_dir(tmp_path).yaml.exists()
    assert (tmp_path / pm.METRICS_NAME).is_file()


def test_failing_pacemaker_process_is_a_training_error(monkeypatch, tmp_path):
    """A pacemaker process that exits non-zero gives TrainingError; its log is kept."""
    monkeypatch.setattr(pm, "check_pacemaker_setup", lambda cfg: Path("/bin/false"))  # exits 1
    with pytest.raises(TrainingError, match="exit code 1"):
        pm.PacemakerTrainer(_cfg(5)).fit(_labelled_cu_cells(2, seed=0), tmp_path, {"Cu": 3.51}, None, 0)
    assert (tmp_path / pm.LOG_NAME).is_file()
    assert (tmp_path / pm.SCRATCH_DIR / "input.yaml").is_file()  # kept for debugging
    assert not PotentialFiles.in_dir(tmp_path).yaml.exists()


def test_core_repulsion_moves_below_the_data_and_leaves_the_fitted_region_alone():
    """`repulsion: zbl` moves pacemaker's ZBL inner cutoff (at the shortest training distance) to
    0.75 of it: a frame slightly shorter than the data is then scored by the ACE, not by ZBL, and
    a collapsed pair still gets ZBL's repulsion."""
    from pyace import create_multispecies_basis_config

    from mlip_autopipec.components.ace.common import AceCalculator, ace_potential_config

    section = ace_potential_config(["Cu"], 5.0, 10, 2, linear=True)
    section["bonds"]["ALL"].update({"inner_cutoff_type": "zbl", "r_in": 2.28, "delta_in": 0.1,
                                    "core-repulsion": [1.0, 1.0]})
    conf = create_multispecies_basis_config(section)
    blocks = conf.funcspecs_blocks
    blocks[0].set_func_coeffs(np.full(len(blocks[0].get_func_coeffs()), 0.1))
    conf.funcspecs_blocks = blocks

    def pair_energy(c, r, tmp):
        c.save(str(tmp))
        dimer = Atoms("Cu2", positions=[[0, 0, 0], [r, 0, 0]], cell=[20, 20, 20], pbc=False)
        dimer.calc = AceCalculator(tmp)
        return dimer.get_potential_energy()

    import tempfile

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d) / "p.yaml"
        before_short = pair_energy(conf, 2.21, tmp)  # between 0.75 r_in and r_in: ZBL before
        before_far = pair_energy(conf, 2.6, tmp)
        pm._place_core_repulsion(conf, pm.ZBL_INNER_FRACTION)
        assert conf.funcspecs_blocks[0].r_in == pytest.approx(0.75 * 2.28)
        after_short = pair_energy(conf, 2.21, tmp)
        assert pair_energy(conf, 2.6, tmp) == pytest.approx(before_far, abs=1e-9)
        assert after_short != pytest.approx(before_short, abs=1e-3)
        # the ACE value at 2.21 A: what a basis without any inner cutoff gives
        section["bonds"]["ALL"].update({"inner_cutoff_type": "distance", "r_in": 0.0, "delta_in": 0.0,
                                        "core-repulsion": [0.0, 0.0]})
        plain = create_multispecies_basis_config(section)
        blocks = plain.funcspecs_blocks
        blocks[0].set_func_coeffs(np.full(len(blocks[0].get_func_coeffs()), 0.1))
        plain.funcspecs_blocks = blocks
        assert after_short == pytest.approx(pair_energy(plain, 2.21, tmp), abs=1e-6)
        assert pair_energy(conf, 0.8, tmp) > pair_energy(plain, 0.8, tmp) + 10.0  # collapse: ZBL


def test_preflight_names_config_field_and_install_script_before_any_work(tmp_path):
    """A config whose pacemaker interpreter does not work fails in preflight (before any label),
    without importing pyace or TensorFlow."""
    from mlip_autopipec.preflight import preflight
    from mlip_autopipec.domain_models.config import load_config

    import yaml

    raw = yaml.safe_load((Path(__file__).parent / "configs" / "pacemaker_emt.yaml").read_text())
    raw["trainer"]["python"] = "/nonexistent/python"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match=r"config.yaml: trainer 'pacemaker'.*trainer.python.*install_pacemaker_extra.sh"):
        preflight(load_config(tmp_path / "config.yaml"))
    assert not (tmp_path / "initial").exists()
    probe = ("import sys; from pathlib import Path; from mlip_autopipec.preflight import preflight; "
             "from mlip_autopipec.domain_models.config import load_config; from mlip_autopipec.core.errors import UserError\n"
             f"try: preflight(load_config(Path({str(tmp_path / 'config.yaml')!r})))\n"
             "except UserError: pass\n"
             "print('pyace' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_cutout_trust_weights_reach_pacemakers_dataframe_through_the_extxyz(tmp_path):
    """Cut-out labels (force_weight / energy_weight) become pacemaker's w_forces / w_energy columns
    in the DataFrame the driver builds in the pacemaker environment (no pacemaker needed: the driver
    imports only numpy, pandas and ASE)."""
    from mlip_autopipec.core.label_weights import pacemaker_weights

    frames = _labelled_cu_cells(2, seed=3)
    weights = np.zeros(len(frames[0]))
    weights[:5] = 1.0
    frames[0].arrays["force_weight"] = weights
    frames[0].info["energy_weight"] = 0.0
    w_energy, w_forces = pacemaker_weights(frames)
    for atoms, we, wf in zip(frames, w_energy, w_forces):
        atoms.info[pacemaker_driver.W_ENERGY_KEY] = we
        atoms.arrays[pacemaker_driver.W_FORCES_KEY] = wf
    pm.write_frames_extxyz(frames, tmp_path / "data.extxyz")
    from ase.io import read

    df = pacemaker_driver.build_dataframe(read(str(tmp_path / "data.extxyz"), index=":"), {"Cu": 0.0})
    assert list(df["w_forces"].iloc[0][:6]) == [1, 1, 1, 1, 1, 0]
    assert df["w_energy"].iloc[0] == pytest.approx(w_energy[0]) and df["w_energy"].iloc[0] < df["w_energy"].iloc[1]
    assert (df["w_forces"].iloc[1] == 1).all()
