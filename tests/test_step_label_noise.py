"""steps/label_noise.py and the oracles' `tighter` hooks, called directly (no Snakemake)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from conftest import mock_config

from mlip_autopipec.components.oracles.espresso import EspressoOracle
from mlip_autopipec.components.oracles.gpaw import GPAWOracle
from mlip_autopipec.components.oracles.vasp import VaspOracle
from mlip_autopipec.core.errors import UserError
from mlip_autopipec.core.io import read_structures
from mlip_autopipec.domain_models.oracle_config import EspressoOracleConfig, GPAWOracleConfig, VaspOracleConfig
from mlip_autopipec.domain_models.records import SettingNoise
from mlip_autopipec.steps.initial import run_initial_structures
from mlip_autopipec.steps.label_noise import representative, run_label_noise, setting_noise, verdict


def labelled(atoms, energy, forces):
    out = atoms.copy()
    out.calc = SinglePointCalculator(out, energy=energy, forces=np.asarray(forces, dtype=float))
    return out


def noise(setting, force_rms, energy=0.0):
    return SettingNoise(setting=setting, field=f"oracle.{setting}", change=f"{setting} tighter", force_rms=force_rms,
                        force_max=force_rms, energy_per_atom=energy, energy_shift_per_atom=energy, wall_time_s=0.0)


def test_setting_noise_measures_forces_and_the_energy_relative_to_the_parent():
    atoms = bulk("Cu", "fcc", a=3.6) * (2, 1, 1)  # 2 atoms
    base = labelled(atoms, -10.0, [[0.1, 0, 0], [-0.1, 0, 0]])
    tight = labelled(atoms, -10.4, [[0.13, 0, 0], [-0.1, 0.04, 0]])
    parent_base, parent_tight = labelled(atoms, -11.0, np.zeros((2, 3))), labelled(atoms, -11.3, np.zeros((2, 3)))
    got = setting_noise("kpoints", "grid", base, tight, parent_base, parent_tight)
    # differences: (0.03, 0, 0) and (0, 0.04, 0): 6 components, squares 0.0009 + 0.0016
    assert got.force_rms == pytest.approx(math.sqrt(0.0025 / 6))
    assert got.force_max == pytest.approx(0.04)
    # E/N moves by -0.2, the parent's by -0.15: relative -0.05 eV/atom; alone -0.2 eV/atom
    assert got.energy_per_atom == pytest.approx(0.05)
    assert got.energy_shift_per_atom == pytest.approx(0.2)
    alone = setting_noise("kpoints", "grid", base, tight)
    assert alone.energy_per_atom == pytest.approx(0.2)


def test_verdict_adds_settings_in_quadrature_and_names_the_worst():
    f, e, passed, worst, message = verdict([noise("kpoints", 0.04), noise("cutoff", 0.03, 0.001)], 0.03, 0.002)
    assert f == pytest.approx(0.05) and e == pytest.approx(0.001)
    assert not passed and worst == "kpoints"
    assert message.startswith("label noise 50 meV/Å RMS force > 30 meV/Å (convergence.force_rmse): tighten oracle.kpoints")

    f, e, passed, worst, message = verdict([noise("kpoints", 0.01), noise("smearing", 0.0, 0.003)], 0.03, 0.002,
                                           max_fraction=0.5)
    assert not passed and worst == "smearing"  # 3 meV/atom over 2: worse relative to its tolerance than 10 of 30
    assert "meV/atom energy > 2.0 meV/atom (convergence.energy_rmse x label_noise.max_fraction 0.5)" in message

    f, e, passed, worst, message = verdict([noise("kpoints", 0.01)], 0.03, 0.002)
    assert passed and message.startswith("label noise 10 meV/Å RMS force, 0.0 meV/atom energy: within 30 meV/Å")


def test_representative_is_a_rattled_copy_with_its_original_as_parent(tmp_path):
    rcfg = mock_config(tmp_path)
    run_initial_structures(rcfg, str(tmp_path / "selected.xyz"))
    frames = read_structures(tmp_path / "selected.xyz")
    rep, parent = representative(frames)
    assert rep.info["source"] == "initial:rattled" and parent.info["source"] == "initial:original"
    assert np.allclose(parent.positions, frames[0].positions)


def test_representative_comes_from_the_smallest_structure(tmp_path):
    big = {"kind": "bulk", "element": "Cu", "crystal": "fcc", "a": 3.61, "supercell": [2, 2, 2]}
    small = {"kind": "bulk", "element": "Cu", "crystal": "fcc", "a": 3.61, "cubic": True, "supercell": [1, 1, 1]}
    rcfg = mock_config(tmp_path, structures=[big, small])
    run_initial_structures(rcfg, str(tmp_path / "selected.xyz"))
    rep, parent = representative(read_structures(tmp_path / "selected.xyz"))
    assert len(rep) == len(parent) == 4 and rep.info["structure_index"] == parent.info["structure_index"] == 1
    assert rep.info["source"] == "initial:rattled" and parent.info["source"] == "initial:original"


def test_noisy_mock_labels_stop_with_the_setting_to_tighten(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rcfg = mock_config(tmp_path, oracle={"kind": "mock", "tighter_force_noise": 0.08},
                       convergence={"force_rmse": 0.05})  # set: the derived default depends on the system
    run_initial_structures(rcfg, "selected.xyz")
    with pytest.raises(UserError, match=r"label noise 80 meV/Å RMS force > 50 meV/Å .*: tighten oracle.kpoints"):
        run_label_noise(rcfg, "selected.xyz", "noise.json", "label_cache", "noise_dir")
    assert not (tmp_path / "noise.json").exists()
    attempt = json.loads((tmp_path / "noise_dir" / "attempt.json").read_text())
    assert attempt["passed"] is False and attempt["worst_setting"] == "kpoints"
    assert attempt["force_rms"] == pytest.approx(0.08)
    # the configured-settings labels went to the stage's label cache, for the label jobs to reuse
    assert len(list((tmp_path / "label_cache").glob("*.extxyz"))) == 2


def test_quiet_mock_labels_pass_and_warn_mode_goes_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rcfg = mock_config(tmp_path)
    run_initial_structures(rcfg, "selected.xyz")
    record = run_label_noise(rcfg, "selected.xyz", "noise.json", "label_cache", "noise_dir")
    assert record.passed and record.applicable and record.force_rms == 0.0
    assert [s.setting for s in record.settings] == ["kpoints", "cutoff", "smearing"]

    rcfg = mock_config(tmp_path, oracle={"kind": "mock", "tighter_force_noise": 0.08},
                       label_noise={"on_excess": "warn"})
    record = run_label_noise(rcfg, "selected.xyz", "noise2.json", "label_cache", "noise_dir2")
    assert not record.passed and (tmp_path / "noise2.json").is_file()


def test_emt_has_no_tighter_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rcfg = mock_config(tmp_path, oracle={"kind": "emt"})
    run_initial_structures(rcfg, "selected.xyz")
    record = run_label_noise(rcfg, "selected.xyz", "noise.json", "label_cache", "noise_dir")
    assert not record.applicable and record.passed
    assert not (tmp_path / "label_cache").exists()


def test_espresso_tighter_settings():
    cfg = EspressoOracleConfig(cutoff_ev=400.0, kpoints={"density": 2.5}, input_data={"system": {"ecutrho": 1800}},
                               smearing={"method": "marzari-vanderbilt", "width_ev": 0.2})
    oracle = EspressoOracle(cfg, cores=2)
    cell = bulk("Al", "fcc", a=4.04, cubic=True) * (2, 2, 2)  # 8.08 Å: density 2.5 -> 2, 5.0 -> 4
    tight, change = oracle.tighter("kpoints", cell)
    assert change == "k-point grid 2x2x2 -> 4x4x4" and tight.kpoint_grid(cell, False) == (4, 4, 4)
    assert tight.cores == 2 and tight.cfg.cutoff_ev == 400.0
    tight, change = oracle.tighter("cutoff", cell)
    assert tight.cfg.cutoff_ev == pytest.approx(520.0) and tight.cfg.input_data["system"]["ecutrho"] == pytest.approx(2340)
    assert cfg.input_data["system"]["ecutrho"] == 1800  # the configured oracle is untouched
    tight, change = oracle.tighter("smearing", cell)
    assert tight.cfg.smearing.width_ev == pytest.approx(0.1) and tight.cfg.smearing.method == "marzari-vanderbilt"
    fixed = EspressoOracle(EspressoOracleConfig(kpoints={"grid": [1, 2, 3]}))
    assert fixed.tighter("kpoints", cell)[0].cfg.kpoints.grid == (2, 4, 6)
    hidden = EspressoOracle(EspressoOracleConfig(input_data={"system": {"degauss": 0.01}}))
    assert hidden.tighter("smearing", cell) is None  # the code's own keyword would hide the change


def test_gpaw_and_vasp_keywords_that_hide_a_setting():
    cell = bulk("Si", "diamond", a=5.43)
    assert GPAWOracle(GPAWOracleConfig(parameters={"kpts": [4, 4, 4]})).tighter("kpoints", cell) is None
    assert GPAWOracle(GPAWOracleConfig()).tighter("cutoff", cell)[0].cfg.cutoff_ev == pytest.approx(520.0)
    assert VaspOracle(VaspOracleConfig(incar={"encut": 600})).tighter("cutoff", cell) is None
    assert VaspOracle(VaspOracleConfig(cutoff_ev=None)).tighter("cutoff", cell) is None  # VASP's default ENMAX


def test_a_failed_calculation_is_skipped_for_the_next_structure(tmp_path, monkeypatch):
    """The failure rule: the oracle failing on the first structure the check tries is recorded
    (in the stage's cache, so the label job does not retry it) and the next structure is measured."""
    from mlip_autopipec.components.oracles.mock import MockOracle
    from mlip_autopipec.core.identity import structure_hash
    from mlip_autopipec.steps.label_noise import candidates

    monkeypatch.chdir(tmp_path)
    rcfg = mock_config(tmp_path, oracle={"kind": "mock", "fail_fraction": 0.01})
    run_initial_structures(rcfg, "selected.xyz")
    order = candidates(read_structures("selected.xyz"))
    first = structure_hash(order[0][0])
    monkeypatch.setattr(MockOracle, "_injected_failure", lambda self, atoms: structure_hash(atoms) == first)
    record = run_label_noise(rcfg, "selected.xyz", "noise.json", "label_cache", "noise_dir")
    assert record.applicable and record.passed
    assert record.structure.startswith(order[1][0].info["source"])
    assert len(list((tmp_path / "label_cache").glob("*.extxyz"))) == 2  # the second structure and its parent


def test_an_oracle_failing_everywhere_leaves_the_verdict_to_the_label_jobs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rcfg = mock_config(tmp_path, oracle={"kind": "mock", "fail_fraction": 0.999999})
    run_initial_structures(rcfg, "selected.xyz")
    n = len(read_structures("selected.xyz"))
    record = run_label_noise(rcfg, "selected.xyz", "noise.json", "label_cache", "noise_dir")
    assert not record.applicable and record.passed
    assert record.message == (f"label noise not measured: the oracle failed on all {n} initial structures "
                              f"at the configured settings")
    assert (tmp_path / "noise.json").is_file()
