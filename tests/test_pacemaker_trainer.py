"""PacemakerTrainer: a tiny real non-linear pacemaker fit (TensorFlow backend) and an upfit.

The real-fit tests need the `pacemaker` extra (tools/install_pacemaker_extra.sh); without it they
fail in CI and skip elsewhere (the one policy of tests/conftest.py).
"""

from __future__ import annotations


import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from conftest import missing
from mlip_autopipec.components.base import PotentialFiles
from mlip_autopipec.components.trainers import pacemaker as pm
from mlip_autopipec.core.errors import TrainingError, UserError
from mlip_autopipec.domain_models.config import AceBasisConfig, PacemakerTrainerConfig

FIRST_ITERATIONS = 15
UPFIT_ITERATIONS = 8


def _require_tensorpotential():
    if not pm.tensorpotential_available():
        missing("tensorpotential (the pacemaker extra)", "bash tools/install_pacemaker_extra.sh")


def _labelled_cu_cells(n: int, seed: int) -> list[Atoms]:
    """Rattled, slightly strained 32-atom fcc Cu cells labelled with EMT."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        atoms = bulk("Cu", "fcc", a=3.61 * rng.uniform(0.97, 1.03), cubic=True).repeat((2, 2, 2))
        atoms.rattle(stdev=0.04 + 0.01 * (i % 4), seed=seed * 1000 + i)
        atoms.calc = EMT()
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        labelled = atoms.copy()
        labelled.calc = SinglePointCalculator(labelled, energy=e, forces=f, stress=s)
        frames.append(labelled)
    return frames


def _emt_isolated(symbol: str) -> float:
    atom = Atoms(symbol, cell=[20.0, 20.0, 20.0], pbc=True)
    atom.calc = EMT()
    return float(atom.get_potential_energy())


def _cfg(max_iterations: int) -> PacemakerTrainerConfig:
    return PacemakerTrainerConfig(
        basis=AceBasisConfig(cutoff=5.0, number_of_functions_per_element=30, max_order=3),
        max_iterations=max_iterations, upfit=True, kappa=0.3,
    )


@pytest.fixture(scope="module")
def first_fit(tmp_path_factory):
    _require_tensorpotential()
    frames = _labelled_cu_cells(10, seed=1)
    refs = {"Cu": _emt_isolated("Cu")}
    out = tmp_path_factory.mktemp("pacemaker_fit0")
    trainer = pm.PacemakerTrainer(_cfg(FIRST_ITERATIONS))
    metrics = trainer.fit(frames, out, refs, previous=None, seed=7)
    return trainer, frames, refs, out, metrics


@pytest.mark.pacemaker
def test_fit_lowers_loss_and_writes_loadable_potential(first_fit):
    trainer, frames, _refs, out, metrics = first_fit
    assert metrics["trainer"] == "pacemaker" and metrics["start"] == "scratch"
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
    # continuing from the fitted coefficients starts far below a fit from zero coefficients
    assert metrics["loss_initial"] < 0.5 * metrics0["loss_initial"]
    assert metrics["loss_final"] <= metrics["loss_initial"]
    assert PotentialFiles.in_dir(tmp_path).asi.is_file()


# ---- no TensorFlow needed below -------------------------------------------------------------
def test_missing_tensorpotential_is_a_user_error(monkeypatch):
    monkeypatch.setattr(pm, "tensorpotential_available", lambda: False)
    with pytest.raises(UserError, match="install_pacemaker_extra.sh|--no-deps"):
        pm.PacemakerTrainer(_cfg(5)).fit(_labelled_cu_cells(1, seed=0), "unused", {"Cu": 0.0}, None, 0)


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
    monkeypatch.setattr(pm, "tensorpotential_available", lambda: True)

    def fake_run(self, work):
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
    monkeypatch.setattr(pm, "tensorpotential_available", lambda: True)
    monkeypatch.setattr(pm.sys, "executable", "/bin/false")  # ignores its arguments, exits 1
    with pytest.raises(TrainingError, match="exit code 1"):
        pm.PacemakerTrainer(_cfg(5)).fit(_labelled_cu_cells(2, seed=0), tmp_path, {"Cu": 3.51}, None, 0)
    assert (tmp_path / pm.LOG_NAME).is_file()
    assert (tmp_path / pm.SCRATCH_DIR / "input.yaml").is_file()  # kept for debugging
    assert not PotentialFiles.in_dir(tmp_path).yaml.exists()
