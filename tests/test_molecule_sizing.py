"""Small molecules (trainer.molecule, derived_defaults.py): the derived sizing, its log line, the
fragment halt and the one-composition note. Expected values are worked out by hand here."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from ase import Atoms
from ase.io import write

from mlip_autopipec.components.dynamics.common import fragmented
from mlip_autopipec.domain_models import derived_defaults as dd
from mlip_autopipec.domain_models.config import OTFConfig, config_from_dict
from mlip_autopipec.sampling.compositions import composition_check

CH = 1.09  # Å, the example file's C-H bond
D = CH / math.sqrt(3)


def methane() -> Atoms:
    return Atoms("CH4", positions=[[0, 0, 0], [D, D, D], [-D, -D, D], [D, -D, -D], [-D, D, -D]])


def ch4_config(tmp_path, extra: str = ""):
    write(tmp_path / "ch4.xyz", methane())
    path = tmp_path / "config.yaml"
    path.write_text("structures: [{kind: file, path: ch4.xyz}]\n"
                    "exploration: {conditions: [{name: t300, temperature: 300}]}\n"
                    "oracle: {kind: emt}\n" + extra)
    return path


def test_molecule_cutoff_is_the_longest_distance_plus_a_margin_within_3_to_5():
    assert dd.molecule_cutoff(1.78) == 3.0  # 2.78 -> 3.0 (0.5 Å steps, at least 3)
    assert dd.molecule_cutoff(3.2) == 4.5  # 4.2 -> 4.5
    assert dd.molecule_cutoff(6.0) == 5.0  # at most 5
    assert dd.molecule_cutoff(0.74) == 3.0  # H2


def test_sizing_is_on_for_a_small_non_periodic_structure_only():
    on = dd.molecule_sizing((5, 1.78))
    assert on.value is True and "basis.cutoff 3 Å" in on.reason and "25/50/100/200" in on.reason
    assert dd.molecule_sizing((55, 9.0)).value is False  # a Cu55 cluster keeps the bulk ladder
    assert dd.molecule_sizing(None).value is False


def test_spot_check_tolerance_of_a_molecule_is_3_percent_of_the_force_scale():
    # sqrt(0.6 kT m w_D^2) for C (Debye 2230 K) and H (no value: 300 K) at 300 K, in SI -> eV/Å
    kb, hbar, amu, ev = 1.380649e-23, 1.054571817e-34, 1.66053907e-27, 1.602176634e-19
    scale = [math.sqrt(0.6 * kb * 300 * m * amu * (kb * theta / hbar) ** 2) / ev * 1e-10
             for m, theta in ((12.011, 2230), (1.008, 300))]
    mean = sum(scale) / 2
    assert mean == pytest.approx(0.67, abs=0.01)
    d = dd.spot_check_force_tolerance(["C", "H"], [300.0, 600.0], molecule=True)
    assert d.value == 0.02 and "3.0 %" in d.reason and "small molecule" in d.reason  # 0.03 x 0.67 = 0.0201
    assert dd.spot_check_force_tolerance(["C", "H"], [300.0]).value == 0.003  # the bulk 0.5 %


def test_a_methane_config_gets_the_molecule_basis_and_a_log_line(tmp_path):
    cfg = config_from_dict(__import__("yaml").safe_load(ch4_config(tmp_path).read_text()), ch4_config(tmp_path)).cfg
    t = cfg.trainer
    assert t.molecule is True and t.basis.cutoff == 3.0 and t.repulsion == "none"
    assert [r.number_of_functions_per_element for r in t.ladder.rungs] == [25, 50, 100, 200]
    assert t.ladder.rows_per_function == 2.0 and t.ladder.final_rungs == [] and not cfg.has_final_fit()
    assert cfg.convergence.force_rmse == 0.02
    line = [x for x in dd.log_lines(cfg.derived()) if x.startswith("DEFAULTS: trainer.molecule = True (")]
    assert len(line) == 1 and "longest distance 1.78 Å" in line[0]


def test_the_users_basis_wins_and_bulk_runs_are_unchanged(tmp_path):
    path = ch4_config(tmp_path, "trainer: {kind: linear_ace, basis: {cutoff: 4.0}}\n")
    mine = config_from_dict(__import__("yaml").safe_load(path.read_text()), path).cfg
    assert mine.trainer.molecule is True and mine.trainer.basis.cutoff == 4.0
    assert [r.number_of_functions_per_element for r in mine.trainer.ladder.rungs] == [25, 50, 100, 200]
    bulk = OTFConfig.model_validate({"oracle": {"kind": "emt"}})
    t = bulk.trainer
    assert t.molecule is False and "trainer.molecule" not in bulk.derived()
    assert t.basis.cutoff == 5.0 and t.repulsion == "zbl" and t.ladder.rows_per_function is None
    assert [r.number_of_functions_per_element for r in t.ladder.rungs] == [100, 200, 300]
    assert [r.number_of_functions_per_element for r in t.ladder.final_rungs] == [800]


def test_jobs_derive_the_same_molecule_config(tmp_path):
    from mlip_autopipec.workflow_support import load_workflow_config

    path = ch4_config(tmp_path)
    config = __import__("yaml").safe_load(path.read_text())
    rcfg = load_workflow_config(config, SimpleNamespace(overwrite_configfiles=[str(path)]))
    assert config["trainer"]["molecule"] is None  # derived: every job derives it again
    job = config_from_dict(dict(config), path).cfg
    assert job == rcfg.cfg and "trainer.molecule" in job.derived()


def test_a_molecule_that_falls_apart_is_fragmented():
    assert not fragmented(methane())
    broken = methane()
    broken.positions[1] += [2.0, 2.0, 2.0]  # H now 4.5 Å from C; H-H >= 3 Å: beyond 2 x (0.76 + 0.31) = 2.14
    assert fragmented(broken)
    bulk = broken.copy()
    bulk.cell, bulk.pbc = [10, 10, 10], True  # a periodic cell is never a fragment
    assert not fragmented(bulk)


def test_one_composition_of_a_molecule_is_a_note_with_a_fix_that_applies():
    frames = [methane() for _ in range(3)]
    check = composition_check(frames)
    assert not check.determined and check.fixed_composition
    assert "H2" in check.advice and "substitutions" not in check.advice
    cells = [Atoms("CuNi", positions=[[0, 0, 0], [1.8, 1.8, 0]], cell=[3.6] * 3, pbc=True) for _ in range(3)]
    alloy = composition_check(cells)
    assert not alloy.determined and not alloy.fixed_composition and "substitutions" in alloy.advice


def test_a_molecule_gets_enough_rattled_copies_for_its_largest_rung(tmp_path):
    # 2 rows per function x 2 elements x 200 functions = 800 fitted rows; a CH4 label has 3 x 5 + 1 = 16
    # rows and 80 % of the labels are fitted: 800 / 12.8 = 62.5 -> 63
    assert dd.molecule_rattled_copies(5, 0.2) == 63
    assert dd.molecule_rattled_copies(20, 0.2) == 17  # 800 / (0.8 x 61) = 16.4
    assert dd.molecule_rattled_copies(200, 0.2) == 8  # never fewer than the bulk default
    path = ch4_config(tmp_path)
    cfg = config_from_dict(__import__("yaml").safe_load(path.read_text()), path).cfg
    assert cfg.initial_data.n_rattled == 63
    mine = ch4_config(tmp_path, "initial_data: {n_rattled: 5}\n")
    assert config_from_dict(__import__("yaml").safe_load(mine.read_text()), mine).cfg.initial_data.n_rattled == 5


def test_force_cap_and_energy_tolerance_of_a_molecule(tmp_path):
    # 8 x the thermal force scale of C and H at 300 K (0.67 eV/Å, computed by hand above) = 5.4 -> 5
    assert dd.molecule_force_cap(["C", "H"], [300.0, 600.0]) == 5.0
    assert dd.molecule_energy_tolerance(0.02) == 0.007  # 20 meV/Å / 3 Å = 6.7 -> 7 meV/atom
    assert dd.molecule_energy_tolerance(0.003) == 0.001  # the Cu pair itself
    path = ch4_config(tmp_path)
    cfg = config_from_dict(__import__("yaml").safe_load(path.read_text()), path).cfg
    assert cfg.trainer.force_cap == 5.0 and cfg.convergence.energy_rmse == 0.007 and cfg.patience == 15
    bulk = OTFConfig.model_validate({"oracle": {"kind": "emt"}})
    assert bulk.trainer.force_cap is None and bulk.convergence.energy_rmse == 0.001 and bulk.patience == 5


def test_rows_of_labels_over_the_force_cap_get_no_weight():
    from mlip_autopipec.components.trainers.basis_ladder import DesignMatrix, capped_rows

    # two structures of 1 and 2 atoms: rows [E0, E1, F0 x3, F1 x6]; the second has a 12 eV/Å component
    forces = [np.array([[0.1, 0.0, 0.0]]), np.array([[0.0, 12.0, 0.0], [0.0, 0.0, 1.0]])]
    dm = DesignMatrix(X=np.zeros((11, 1)), y=np.zeros(11), n_atoms=np.array([1, 2]),
                      stress_rows=-np.ones((2, 6), dtype=int), volumes=np.zeros(2))
    expected = np.array([1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=float)
    assert np.array_equal(capped_rows(dm, forces, 10.0), expected)
    assert np.array_equal(capped_rows(dm, forces, None), np.ones(11))


def test_a_molecules_one_composition_is_a_readme_note_and_no_status_warning():
    from mlip_autopipec.domain_models.records import TrainRecord
    from mlip_autopipec.domain_models.state import Action, Decision
    from mlip_autopipec.loop.state import _warnings
    from mlip_autopipec.steps.final import readme

    check = composition_check([methane()])
    record = TrainRecord(stage="initial", n_structures=1, trainer="linear_ace", composition=check)
    assert _warnings(record) == []
    decision = Decision(action=Action.CONVERGED, iteration=0, reason="done", progress=1.0)
    text = readme(decision, 1, ["initial"], "initial", ["C", "H"], notes=[check.advice])
    assert f"NOTE: {check.advice}" in text and "WARNING:" not in text


def test_molecule_false_keeps_the_bulk_settings(tmp_path):
    path = ch4_config(tmp_path, "trainer: {kind: linear_ace, molecule: false}\n")
    cfg = config_from_dict(__import__("yaml").safe_load(path.read_text()), path).cfg
    assert cfg.trainer.basis.cutoff == 5.0 and cfg.trainer.ladder.rows_per_function is None
    assert cfg.convergence.force_rmse == 0.003 and cfg.patience == 5 and "trainer.molecule" not in cfg.derived()
