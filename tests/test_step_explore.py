"""steps/explore.py called directly with the mock dynamics and a mock potential (no Snakemake)."""

from __future__ import annotations

import json

import numpy as np

import pytest
from conftest import mock_config

from mlip_autopipec.components.base import PotentialFiles
from mlip_autopipec.components.trainers.mock import MockTrainer
from mlip_autopipec.core.io import read_structures
from mlip_autopipec.domain_models.config import MockTrainerConfig
from mlip_autopipec.domain_models.records import ExplorationRecord
from mlip_autopipec.steps.explore import condition_by_name, run_explore


def mock_potential(directory, generations: int):
    """A mock potential `generations` fits old (the mock dynamics halts while it is young)."""
    previous = None
    for g in range(generations + 1):
        MockTrainer(MockTrainerConfig()).fit([], directory / f"g{g}", {}, previous, 0)
        previous = PotentialFiles.in_dir(directory / f"g{g}")
    return directory / f"g{generations}"


def explore(rcfg, tmp_path, potential):
    return run_explore(rcfg, 0, "t600", str(potential), str(tmp_path / "t600.json"), str(tmp_path / "t600.extxyz"))


def test_a_young_potential_halts_and_the_frames_name_their_condition(tmp_path):
    rcfg = mock_config(tmp_path)
    record = explore(rcfg, tmp_path, mock_potential(tmp_path, 0))
    assert ExplorationRecord.model_validate(json.loads((tmp_path / "t600.json").read_text())) == record
    # mock.yaml: halt at step 100 of a 1000-step budget, gamma checked every 10 steps
    assert (record.halted, record.steps_run, record.budget) == (True, 100, 1000)
    assert record.max_gamma > rcfg.cfg.exploration.gamma_halt
    assert [s for s, _ in record.gamma_trace] == list(range(10, 101, 10))
    frames = read_structures(tmp_path / "t600.extxyz")
    assert record.n_extrapolative == len(frames) == 1
    assert (frames[0].info["condition"], frames[0].info["iteration"]) == ("t600", 0)
    assert (record.temperature, record.pressure) == (600.0, None)


def test_a_mature_potential_runs_the_whole_budget(tmp_path):
    rcfg = mock_config(tmp_path)
    record = explore(rcfg, tmp_path, mock_potential(tmp_path, 3))
    assert (record.halted, record.steps_run, record.n_extrapolative) == (False, 1000, 0)
    assert read_structures(tmp_path / "t600.extxyz") == []


def test_mock_dynamics_gets_no_calculator(tmp_path, monkeypatch):
    """The step builds an ASE calculator only for backends that declare they need one."""
    import mlip_autopipec.steps.explore as step

    def no_calculator(*_):
        raise AssertionError("the mock dynamics needs no calculator")

    monkeypatch.setattr(step, "trainer_calculator", no_calculator)
    rcfg = mock_config(tmp_path)
    assert explore(rcfg, tmp_path, mock_potential(tmp_path, 0)).halted


def test_unknown_condition_is_named(tmp_path):
    rcfg = mock_config(tmp_path)
    assert condition_by_name(rcfg, "t600").temperature == 600.0
    with pytest.raises(KeyError, match="t9000"):
        condition_by_name(rcfg, "t9000")


def test_adaptive_gamma_thresholds_come_from_the_calibration_records(tmp_path):
    """exploration.adaptive_gamma on: the thresholds are read off the fits' prior errors (here on
    force RMSE = 1e-3 * gamma**0.5 eV/Å, tolerance 2 meV/Å: gamma_select 4, gamma_halt 4 x 5/2),
    the dynamics runs with them and the record says so."""
    stage = tmp_path / "iter_000"
    stage.mkdir()
    rows = [{"max_gamma": g, "force_rmse": 1e-3 * g ** 0.5} for g in (0.7, 1.0, 1.8, 3.0, 6.0, 11.0, 40.0, 150.0)]
    (stage / "train.json").write_text(json.dumps({"stage": "iter_000", "n_structures": 8, "trainer": "mock",
                                                  "prior": {"per_structure": rows}}))
    rcfg = mock_config(tmp_path, exploration={"adaptive_gamma": {"enabled": True, "force_tolerance": 2e-3}})
    record = run_explore(rcfg, 1, "t600", str(mock_potential(tmp_path, 0)), str(tmp_path / "t600.json"),
                         str(tmp_path / "t600.extxyz"), calibration_files=[str(stage / "train.json")])
    t = record.gamma_thresholds
    assert t is not None and t.adaptive and t.stages == ["iter_000"]
    assert (t.gamma_select, t.gamma_halt) == pytest.approx((4.0, 10.0))
    assert record.halted and record.max_gamma > 10.0  # the mock halts just above the gamma_halt it was given
    assert ExplorationRecord.model_validate(json.loads((tmp_path / "t600.json").read_text())) == record


def test_adaptive_gamma_off_records_no_thresholds(tmp_path):
    record = explore(mock_config(tmp_path), tmp_path, mock_potential(tmp_path, 0))
    assert record.gamma_thresholds is None


def test_the_wide_exploration_condition_starts_from_the_wide_cell(tmp_path, monkeypatch):
    """exploration.wide_cell (derived on for EMT): the hottest condition on structures[0] starts from the
    initial data's wide cell, the others from their own structure; both at the oracle's lattice constant
    (initial_data.oracle_lattice, set here: the initial job writes initial/lattice.json first)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.eos import EquationOfState

    from mlip_autopipec.domain_models.config import config_from_dict
    from mlip_autopipec.steps.explore import exploration_start
    from mlip_autopipec.steps.initial import run_initial_structures

    monkeypatch.chdir(tmp_path)

    rcfg = config_from_dict({"oracle": {"kind": "emt"},
                             "structures": [{"kind": "bulk", "element": "Cu", "crystal": "fcc", "supercell": [2, 2, 2]}],
                             "exploration": {"conditions": [{"name": "t600", "temperature": 600},
                                                            {"name": "t1200", "temperature": 1200}]},
                             "initial_data": {"oracle_lattice": True}},  # off for EMT unless asked
                            tmp_path / "config.yaml")
    run_initial_structures(rcfg, "initial/selected.xyz", "initial/lattice.json")
    cutoff = rcfg.cfg.trainer.basis.cutoff
    n = int(2 * cutoff / 3.61) + 1  # conventional fcc Cu cells (a = 3.61 Å) to exceed 2 x cutoff along each axis
    hot, cool = exploration_start(rcfg, condition_by_name(rcfg, "t1200")), exploration_start(rcfg, condition_by_name(rcfg, "t600"))
    assert len(hot) == 4 * n ** 3 and hot.info["source"] == "initial:wide_cell"
    assert len(cool) == 32
    assert min(hot.cell.lengths()) > 2 * cutoff
    volumes, energies = [], []  # EMT Cu's equilibrium from ASE's own equation of state, 11 volumes
    for f in np.linspace(0.97, 1.03, 11):
        cell = bulk("Cu", "fcc", a=3.61 * f)
        cell.calc = EMT()
        volumes.append(cell.get_volume())
        energies.append(cell.get_potential_energy())
    a0 = (4 * EquationOfState(volumes, energies).fit()[0]) ** (1 / 3)  # 3.590 Å, not ASE's 3.61
    assert hot.cell.lengths() / n == pytest.approx([a0] * 3, abs=2e-3)
    assert cool.cell.lengths() / 2 == pytest.approx([a0] * 3, abs=2e-3)
