"""The MD time step and the held-out MD temperatures derived from the system
(domain_models/derived_defaults.py): values from hand calculations, the log lines, the config filling
only what the user left unset, and every MD of the user's system using the one step."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mlip_autopipec.domain_models import derived_defaults as dd
from mlip_autopipec.domain_models.config import OTFConfig, config_from_dict
from mlip_autopipec.domain_models.dynamics_config import AseMDConfig

CH4 = Path(__file__).resolve().parents[1] / "examples" / "ch4_molecule" / "ch4.xyz"


# --- the time step ----------------------------------------------------------------------------
@pytest.mark.parametrize("elements, lightest, mass, expected", [
    (["H"], "H", 1.008, 0.5),              # 0.5 x sqrt(1.008) = 0.502
    (["C", "H"], "H", 1.008, 0.5),         # the lightest element decides
    (["Li"], "Li", 6.94, 1.3),             # 1.317
    (["C"], "C", 12.011, 1.7),             # 1.733
    (["N"], "N", 14.007, 1.9),             # 1.871
    (["O"], "O", 15.999, 2.0),             # 1.99994: two digits 2.0, the cap
    (["Al"], "Al", 26.98, 2.0),            # 2.60 -> capped: the metals keep 2 fs
    (["Cu"], "Cu", 63.546, 2.0),
    (["Cu", "Ni"], "Ni", 58.69, 2.0),
])
def test_the_time_step_grows_as_the_root_of_the_lightest_mass_up_to_2_fs(elements, lightest, mass, expected):
    assert min(2.0, round(0.5 * math.sqrt(mass), 1)) == expected  # the hand calculation (IUPAC masses)
    d = dd.md_timestep(elements)
    assert d.value == expected and f"lightest element {lightest} " in d.reason


def test_unknown_elements_keep_the_metals_step_and_say_so():
    d = dd.md_timestep([])
    assert d.value == 2.0 and "unknown" in d.reason


def test_the_time_step_log_line():
    line = dd.log_lines({"dynamics.timestep_fs": dd.md_timestep(["C", "H"])})[0]
    assert line.startswith("DEFAULTS: dynamics.timestep_fs = 0.5 (lightest element H 1.01 amu: 0.5 fs x sqrt(m / amu)")
    assert "at most 2 fs" in line


def test_the_derived_step_conserves_a_molecules_energy_where_2_fs_does_not():
    """The reason for the rule: EMT CH4 in NVE from 600 K, 500 steps; the total energy's spread at
    the derived step is below 0.1 k_B T, at 2 fs more than ten times that (seed 0: 1.3 k_B T)."""
    from ase import units
    from ase.calculators.emt import EMT
    from ase.io import read
    from ase.md.verlet import VelocityVerlet
    from ase.optimize import BFGS

    start = read(str(CH4))
    start.calc = EMT()
    BFGS(start, logfile=None).run(fmax=1e-4)
    kt = units.kB * 600

    def spread(dt_fs: float) -> float:
        atoms = start.copy()
        atoms.calc = EMT()
        p = np.random.default_rng(0).standard_normal((len(atoms), 3)) * np.sqrt(atoms.get_masses()[:, None] * kt)
        atoms.set_momenta(p - p.mean(axis=0))
        energies = []
        dyn = VelocityVerlet(atoms, dt_fs * units.fs)
        dyn.attach(lambda: energies.append(atoms.get_total_energy()), interval=5)
        dyn.run(500)
        return float(np.ptp(energies))

    derived = spread(dd.md_timestep(["C", "H"]).value)
    assert derived < 0.1 * kt and spread(2.0) > 10 * derived


@pytest.mark.parametrize("step, steps", [(2.0, 1000), (0.5, 4000), (1.7, 1176), (1.0, 2000)])
def test_the_exploration_budget_is_2_ps_at_the_step(step, steps):
    d = dd.exploration_budget(step)
    assert d.value == steps  # 2000 fs / step, by hand
    assert dd.log_lines({"initial_exploration_steps": d})[0].startswith(
        f"DEFAULTS: initial_exploration_steps = {steps} (2 ps of MD per condition (the benchmarked 1000 steps of 2 fs) "
        f"at the time step {step:g} fs")


def test_the_config_derives_the_step_only_when_unset(tmp_path):
    (tmp_path / "ch4.xyz").write_text(CH4.read_text())
    raw = {"structures": [{"kind": "file", "path": "ch4.xyz"}], "oracle": {"kind": "emt"},
           "exploration": {"conditions": [{"name": "t300", "temperature": 300}]}}
    cfg = config_from_dict(raw, tmp_path / "config.yaml").cfg
    assert cfg.dynamics.timestep_fs == 0.5 and cfg.md_timestep_fs() == 0.5
    assert cfg.derived()["dynamics.timestep_fs"].value == 0.5
    assert cfg.initial_exploration_steps == 4000 and cfg.exploration_steps(0) == 4000  # 2 ps of 0.5 fs
    mine = config_from_dict({**raw, "dynamics": {"kind": "ase_md", "timestep_fs": 1.0}}, tmp_path / "config.yaml").cfg
    assert mine.dynamics.timestep_fs == 1.0 and mine.md_timestep_fs() == 1.0
    assert "dynamics.timestep_fs" not in mine.derived() and mine.initial_exploration_steps == 2000
    budget = config_from_dict({**raw, "initial_exploration_steps": 300}, tmp_path / "config.yaml").cfg
    assert budget.initial_exploration_steps == 300 and "initial_exploration_steps" not in budget.derived()
    lammps = config_from_dict({**raw, "dynamics": {"kind": "lammps"}}, tmp_path / "config.yaml").cfg
    assert lammps.dynamics.timestep_fs == 0.5
    # a backend without a step (mock): the held-out MD and the swarm's bursts still get the system's
    mock = config_from_dict({**raw, "dynamics": {"kind": "mock"}}, tmp_path / "config.yaml").cfg
    assert mock.md_timestep_fs() == 0.5 and "dynamics.timestep_fs" not in mock.derived()


def test_the_default_copper_run_keeps_2_fs():
    cfg = OTFConfig.model_validate({"oracle": {"kind": "emt"}})
    assert cfg.dynamics.timestep_fs == 2.0 and "Cu 63.5 amu" in cfg.derived()["dynamics.timestep_fs"].reason
    assert cfg.initial_exploration_steps == 1000
    assert AseMDConfig().step_fs() == 2.0  # a section built alone (no system): the metals' step


def test_jobs_derive_the_same_step_from_a_null(tmp_path):
    """workflow_support hands jobs the derived keys as null; a job derives 0.5 fs again."""
    from types import SimpleNamespace

    from mlip_autopipec.workflow_support import load_workflow_config

    (tmp_path / "ch4.xyz").write_text(CH4.read_text())
    path = tmp_path / "config.yaml"
    config = {"structures": [{"kind": "file", "path": "ch4.xyz"}], "oracle": {"kind": "emt"},
              "exploration": {"conditions": [{"name": "t300", "temperature": 300}]}}
    path.write_text(str(config))  # only anchors the relative path
    rcfg = load_workflow_config(config, SimpleNamespace(overwrite_configfiles=[str(path)]))
    assert config["dynamics"]["timestep_fs"] is None and config["validation"]["temperatures"] is None
    job = config_from_dict(dict(config), path).cfg
    assert config["initial_exploration_steps"] is None
    assert job == rcfg.cfg and job.dynamics.timestep_fs == 0.5 and job.initial_exploration_steps == 4000


# --- the held-out MD temperatures ---------------------------------------------------------------
@pytest.mark.parametrize("conditions, expected", [
    ([600, 1200, 900, 1000], [600, 900, 1200]),   # config/config.yaml: 900 is the middle (600 + 1200) / 2
    ([300, 600], [300, 600]),
    ([300, 300, 600, 600], [300, 600]),           # distinct
    ([500], [500]),
    ([100, 200, 300, 400, 500], [100, 300, 500]),
    ([100, 200, 400, 500], [100, 200, 500]),      # 200 and 400 both 100 K from 300: the lower
])
def test_held_out_temperatures_are_the_explorations_at_most_three(conditions, expected):
    d = dd.validation_temperatures([float(t) for t in conditions])
    assert d.value == [float(t) for t in expected]


def test_held_out_temperatures_log_line():
    line = dd.log_lines({"validation.temperatures": dd.validation_temperatures([600.0, 1200.0, 900.0, 1000.0])})[0]
    assert line == ("DEFAULTS: validation.temperatures = [600.0, 900.0, 1200.0] (the lowest, the highest and the one "
                    "nearest their middle of the exploration temperatures 600, 900, 1000, 1200 K: the held-out oracle "
                    "MD samples where the loop explores)")
    assert dd.validation_temperatures([300.0, 600.0]).reason.startswith("the exploration temperatures:")


def test_the_config_derives_held_out_temperatures_and_logs_them_where_frames_are_made():
    cfg = OTFConfig.model_validate({"oracle": {"kind": "emt"},
                                    "exploration": {"conditions": [{"name": "a", "temperature": 400},
                                                                   {"name": "b", "temperature": 800}]}})
    assert cfg.validation.temperatures == [400.0, 800.0] and "validation.temperatures" in cfg.derived()
    mine = OTFConfig.model_validate({"oracle": {"kind": "emt"}, "validation": {"temperatures": [300]}})
    assert mine.validation.temperatures == [300.0] and "validation.temperatures" not in mine.derived()
    # no generated frames (a DFT oracle without a file): the value is filled but says nothing worth a line
    dft = OTFConfig.model_validate({"oracle": {"kind": "gpaw"}})
    assert dft.validation.n_generated == 0 and "validation.temperatures" not in dft.derived()
