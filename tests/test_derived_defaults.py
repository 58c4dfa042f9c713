"""domain_models/derived_defaults.py: values from independent hand calculations, and the log line."""

from __future__ import annotations

import math

import pytest

from mlip_autopipec.domain_models import derived_defaults as dd
from mlip_autopipec.domain_models.config import OTFConfig


def debye_u(mass_amu: float, theta: float, t: float) -> float:
    """<u_x^2> = 3 hbar^2 T / (m k_B Theta^2), SI units, in Å."""
    hbar, kb, amu = 1.054571817e-34, 1.380649e-23, 1.66053907e-27
    return math.sqrt(3 * hbar ** 2 * t / (mass_amu * amu * kb * theta ** 2)) * 1e10


def test_rattle_is_the_thermal_displacement_at_the_lowest_temperature():
    assert debye_u(63.546, 343, 600) == pytest.approx(0.108, abs=5e-4)  # the hand calculation itself
    d = dd.thermal_rattle(["Cu"], [1200.0, 600.0])
    assert d.value == 0.1 and "Cu 0.108" in d.reason and "600 K" in d.reason
    pt = dd.thermal_rattle(["Pt"], [600.0])
    assert pt.value == dd.one_digit(debye_u(195.08, 240, 600)) == 0.09


def test_rattle_is_capped_for_light_atoms():
    d = dd.thermal_rattle(["C", "H"], [300.0])
    assert d.value == 0.1 and "no Debye temperature for H" in d.reason


def test_spot_check_tolerance_scales_with_the_force_scale_and_is_capped():
    # F_rms = sqrt(0.6 k_B T m w_D^2): Cu at 600 K, by hand in SI -> eV/Å
    kb, hbar, amu, ev = 1.380649e-23, 1.054571817e-34, 1.66053907e-27, 1.602176634e-19
    k_eff = 63.546 * amu * (kb * 343 / hbar) ** 2  # N/m
    f_rms = math.sqrt(0.6 * kb * 600 * k_eff) / ev * 1e-10
    assert f_rms == pytest.approx(0.64, abs=0.01)
    d = dd.spot_check_force_tolerance(["Cu"], [600.0, 1200.0])
    assert d.value == 0.003 and "0.64 eV/Å" in d.reason
    assert dd.spot_check_force_tolerance(["Cu"], [1e7]).value == dd.SPOT_CHECK_CAP


def test_log_line_names_field_value_and_reason():
    derived = {"initial_data.rattle_stdev": dd.Derived(0.1, "why")}
    assert dd.log_lines(derived) == ["DEFAULTS: initial_data.rattle_stdev = 0.1 (why)"]


def test_config_fills_only_what_the_user_left_out():
    cfg = OTFConfig.model_validate({"oracle": {"kind": "emt"}})
    assert cfg.initial_data.rattle_stdev == 0.1 and cfg.convergence.force_rmse == 0.003
    assert cfg.labeling.structures_per_job == 10 and cfg.properties.enabled and cfg.validation.n_generated == 24
    assert set(cfg.derived()) == {"initial_data.rattle_stdev", "convergence.force_rmse", "initial_data.wide_cell",
                                  "labeling.structures_per_job", "properties.enabled", "validation.n_generated",
                                  "dynamics.timestep_fs", "validation.temperatures", "initial_exploration_steps",
                                  "initial_data.surface_slabs", "exploration.wide_cell",
                                  "initial_data.cell_strain_copies", "initial_data.oracle_lattice"}
    assert cfg.initial_data.oracle_lattice is False  # EMT: ASE's values, where the benchmarks were measured
    mine = OTFConfig.model_validate({"initial_data": {"rattle_stdev": 0.03}, "convergence": {"force_rmse": 0.02},
                                     "oracle": {"kind": "gpaw"}})
    assert mine.initial_data.rattle_stdev == 0.03 and mine.convergence.force_rmse == 0.02
    assert "initial_data.rattle_stdev" not in mine.derived()
    assert mine.labeling.structures_per_job == 1 and mine.validation.n_generated == 0
    mock = OTFConfig.model_validate({"oracle": {"kind": "mock"}, "trainer": {"kind": "mock"}})
    assert mock.properties.enabled is False


def test_one_digit():
    assert (dd.one_digit(0.108), dd.one_digit(0.0032), dd.one_digit(0.0047), dd.one_digit(0.96)) == (0.1, 0.003, 0.005, 1.0)


def test_wide_cell_is_added_only_when_every_cell_is_narrow():
    from mlip_autopipec.domain_models.config import OTFConfig

    narrow = OTFConfig.model_validate({"structures": [{"kind": "bulk", "element": "Cu", "a": 3.6}]})
    wide = narrow.wide_cell()
    # 2 x 5 Å cutoff = 10 Å; a conventional Cu cell is 3.6 Å wide: 3 cells = 10.8 Å is the first above
    assert wide.supercell == (3, 3, 3) and wide.vacancies == 0
    per = 1 + narrow.initial_data.n_rattled + len(narrow.initial_data.strains)
    slabs = 3 * narrow.initial_data.surface_slab_copies  # (111), (100), (110): initial_data.surface_slabs
    assert narrow.n_initial_structures() == 2 * per + slabs
    has_one = OTFConfig.model_validate({"structures": [{"kind": "bulk", "element": "Cu", "a": 3.6},
                                                       {"kind": "bulk", "element": "Cu", "a": 3.6,
                                                        "supercell": [3, 3, 3]}]})
    assert has_one.wide_cell() is None
    off = OTFConfig.model_validate({"structures": [{"kind": "bulk", "element": "Cu", "a": 3.6}],
                                    "initial_data": {"wide_cell": False}})
    assert off.wide_cell() is None


def test_jobs_get_the_derived_settings_as_null_and_derive_the_same_values(tmp_path):
    """workflow_support.load_workflow_config hands jobs a config whose derived keys are null, so each
    job derives them again (same value) and knows the reason for its log."""
    from types import SimpleNamespace

    from mlip_autopipec.domain_models.config import config_from_dict
    from mlip_autopipec.workflow_support import load_workflow_config

    path = tmp_path / "config.yaml"
    path.write_text("oracle: {kind: emt}\n")
    config = {"oracle": {"kind": "emt"}}
    rcfg = load_workflow_config(config, SimpleNamespace(overwrite_configfiles=[str(path)]))
    assert config["initial_data"]["rattle_stdev"] is None and config["convergence"]["force_rmse"] is None
    job = config_from_dict(dict(config), path).cfg
    assert job == rcfg.cfg and set(job.derived()) == set(rcfg.cfg.derived())


def test_properties_are_on_for_a_crystal_spec_and_off_for_a_mock():
    assert dd.properties_enabled("emt", "linear_ace", "bulk").value is True
    assert dd.properties_enabled("mock", "linear_ace", "bulk").value is False
    unread = dd.properties_enabled("emt", "linear_ace", "file", None)
    assert unread.value is False and "could not be read" in unread.reason


def test_properties_of_a_file_target_follow_its_periodicity_and_size():
    target = dd.PropertyTarget
    slab = dd.properties_enabled("emt", "linear_ace", "file", target(2, 45, ("Cu",)))
    assert slab.value is True and "slab of 45 atoms" in slab.reason and "surface energy" in slab.reason
    cluster = dd.properties_enabled("emt", "linear_ace", "file", target(0, 147, ("Cu",)))
    assert cluster.value is True and "vibrations" in cluster.reason
    assert dd.properties_enabled("emt", "linear_ace", "file", target(0, 201, ("Cu",))).value is False
    # a DFT oracle: a cluster's Hessian is 6N calculations of the whole cluster, so molecules only
    dft = dd.properties_enabled("gpaw", "linear_ace", "file", target(0, 55, ("Cu",)))
    assert dft.value is False and "6 x 55 = 330 calculations" in dft.reason
    assert dd.properties_enabled("gpaw", "linear_ace", "file", target(0, 5, ("C", "H"))).value is True
    assert dd.properties_enabled("gpaw", "linear_ace", "file", target(2, 36, ("Pt",))).value is True
    bulk = dd.properties_enabled("emt", "linear_ace", "file", target(3, 45, ("Cu",)))
    assert bulk.value is False and "1215 atoms" in bulk.reason and "pbc F" in bulk.reason  # 27 x 45
    assert dd.properties_enabled("emt", "linear_ace", "file", target(3, 8, ("Si",))).value is True
    wire = dd.properties_enabled("emt", "linear_ace", "file", target(1, 10, ("Cu",)))
    assert wire.value is False and "wire" in wire.reason


def test_a_slab_without_a_bulk_reference_keeps_the_properties_off():
    alloy = dd.PropertyTarget(2, 36, ("Cu", "Ni"))
    off = dd.properties_enabled("emt", "linear_ace", "file", alloy)
    assert off.value is False and "properties.surface_bulk" in off.reason
    assert dd.properties_enabled("emt", "linear_ace", "file", alloy, surface_reference=True).value is True
    # oxygen's reference state is the molecule: ase.build.bulk has no crystal for it
    assert dd.properties_enabled("emt", "linear_ace", "file", dd.PropertyTarget(2, 16, ("O",))).value is False


def test_a_file_target_is_read_from_the_config_once_and_logged(tmp_path, monkeypatch):
    from ase.build import fcc111, molecule
    from ase.io import write

    import ase.io

    from mlip_autopipec.domain_models.config import config_from_dict

    write(tmp_path / "slab.extxyz", fcc111("Cu", (3, 3, 5), vacuum=8.0))  # pbc T T F
    write(tmp_path / "box.extxyz", fcc111("Cu", (3, 3, 5), vacuum=8.0, periodic=True))  # a slab in a 3D box
    ch4 = molecule("CH4")
    ch4.center(vacuum=6.0)
    write(tmp_path / "ch4.extxyz", ch4)
    reads = []
    real_read = ase.io.read
    monkeypatch.setattr(ase.io, "read", lambda path, *a, **k: reads.append(path) or real_read(path, *a, **k))
    raw = {"exploration": {"conditions": [{"name": "t300", "temperature": 300}]}, "oracle": {"kind": "emt"}}
    lines = {}
    for name in ("slab", "box", "ch4"):
        cfg = config_from_dict({**raw, "structures": [{"kind": "file", "path": f"{name}.extxyz"}]},
                               tmp_path / "config.yaml").cfg
        lines[name] = dd.log_lines({"properties.enabled": cfg.derived()["properties.enabled"]})[0]
        assert cfg.properties.enabled is (name != "box")
    assert sorted(reads) == sorted(str(tmp_path / f"{n}.extxyz") for n in ("slab", "box", "ch4"))  # once each
    assert lines["slab"].startswith("DEFAULTS: properties.enabled = True (the property target is a slab of 45 atoms")
    assert lines["ch4"].startswith("DEFAULTS: properties.enabled = True (the property target is a cluster or "
                                   "molecule of 5 atoms")
    assert lines["box"].startswith("DEFAULTS: properties.enabled = False (the property target is a 3D-periodic "
                                   "file cell of 45 atoms")


def test_a_portfolio_gets_a_whole_set_and_a_per_kind_spot_check_tolerance():
    # Cu's thermal force scale at 407 K (0.3 Tm, the portfolio's coldest condition), by hand as above
    kb, hbar, amu, ev = 1.380649e-23, 1.054571817e-34, 1.66053907e-27, 1.602176634e-19
    f_rms = math.sqrt(0.6 * kb * 407 * 63.546 * amu * (kb * 343 / hbar) ** 2) / ev * 1e-10
    assert f_rms == pytest.approx(0.527, abs=0.005)
    d = dd.spot_check_force_tolerance(["Cu"], [407.0, 2037.0], portfolio=True)
    assert d.value == 0.005 and "1.0 %" in d.reason and "portfolio" in d.reason  # 1 % of 0.527 -> one digit
    assert dd.kind_force_tolerance(0.005).value == pytest.approx(0.012)
    cfg = OTFConfig.model_validate({"oracle": {"kind": "emt"}, "portfolio": {"enabled": True, "element": "Cu"}})
    assert cfg.convergence.force_rmse == 0.005 and cfg.convergence.kind_force_rmse == pytest.approx(0.012)
    assert cfg.initial_data.rattle_stdev == 0.09  # Debye u_x of Cu at 407 K (0.089 Å), not the unknown-element 0.05
    assert dd.log_lines({"convergence.kind_force_rmse": cfg.derived()["convergence.kind_force_rmse"]})[0].startswith(
        "DEFAULTS: convergence.kind_force_rmse = 0.012 (2.4 x convergence.force_rmse 0.005")
    assert cfg.validation.n_generated == 0  # its per-kind set is the held-out set; nothing of the user's to add
    assert cfg.has_validation()
    plain = OTFConfig.model_validate({"oracle": {"kind": "emt"}})
    assert plain.convergence.kind_force_rmse is None and "convergence.kind_force_rmse" not in plain.derived()


def test_a_dft_oracle_gets_no_wide_cell_unless_asked():
    """The wide cell's ~100-atom labels are cheap with EMT and the run's dearest with a DFT code."""
    cu = [{"kind": "bulk", "element": "Cu", "a": 3.6}]
    dft = OTFConfig.model_validate({"structures": cu, "oracle": {"kind": "espresso"}})
    assert dft.initial_data.wide_cell is False and dft.wide_cell() is None
    assert dft.derived()["initial_data.wide_cell"].reason.startswith("oracle espresso: a cell wider than 2 x cutoff")
    asked = OTFConfig.model_validate({"structures": cu, "oracle": {"kind": "espresso"},
                                      "initial_data": {"wide_cell": True}})
    assert asked.wide_cell() is not None and "initial_data.wide_cell" not in asked.derived()
    assert OTFConfig.model_validate({"structures": cu, "oracle": {"kind": "chgnet"}}).wide_cell() is not None


def test_surface_slabs_join_a_bulk_only_set_whose_surface_energies_are_computed():
    """Issue 28: a bulk-only minimal config reported surface energies 16-139 % off; the slabs of the
    properties stage now join its initial data, and only then."""
    bulk_only = OTFConfig.model_validate({"structures": [{"kind": "bulk", "element": "Ni"}], "oracle": {"kind": "emt"}})
    assert bulk_only.initial_data.surface_slabs is True
    assert bulk_only.surface_slab_crystal() == ("Ni", pytest.approx(3.52, abs=1e-9))  # ASE's fcc Ni
    assert "surface energies" in bulk_only.derived()["initial_data.surface_slabs"].reason
    line = [x for x in dd.log_lines(bulk_only.derived()) if "surface_slabs" in x]
    assert line == ["DEFAULTS: initial_data.surface_slabs = True (" + bulk_only.derived()["initial_data.surface_slabs"].reason + ")"]
    own_a = OTFConfig.model_validate({"structures": [{"kind": "bulk", "element": "Cu", "a": 3.6}],
                                      "properties": {"a": 3.59}})
    assert own_a.surface_slab_crystal() == ("Cu", 3.59)  # where the properties stage starts from

    no_surface = OTFConfig.model_validate({"structures": [{"kind": "bulk", "element": "Cu"}],
                                           "properties": {"include": ["eos", "elastic"]}})
    bcc = OTFConfig.model_validate({"structures": [{"kind": "bulk", "element": "Fe", "crystal": "bcc"}]})
    with_file = OTFConfig.model_validate({"structures": [{"kind": "bulk", "element": "Cu"},
                                                         {"kind": "file", "path": "slab.extxyz"}]})
    mock = OTFConfig.model_validate({"structures": [{"kind": "bulk", "element": "Cu"}], "oracle": {"kind": "mock"}})
    for cfg in (no_surface, bcc, with_file, mock):
        assert cfg.initial_data.surface_slabs is False and cfg.surface_slab_crystal() is None
        assert cfg.n_surface_slabs() == 0
    assert "may be (a file)" in with_file.derived()["initial_data.surface_slabs"].reason
    user_off = OTFConfig.model_validate({"structures": [{"kind": "bulk", "element": "Cu"}],
                                         "initial_data": {"surface_slabs": False}})
    assert user_off.surface_slab_crystal() is None and "initial_data.surface_slabs" not in user_off.derived()


def test_surface_slabs_of_a_crystal_without_a_lattice_constant_are_refused_at_load():
    """ASE knows no fcc lattice constant for Fe: the config names the field to set, before any job."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"structures\[0\]\.a: ASE has no fcc lattice constant for Fe"):
        OTFConfig.model_validate({"structures": [{"kind": "bulk", "element": "Fe", "crystal": "fcc"}],
                                  "oracle": {"kind": "emt"}})
    given = OTFConfig.model_validate({"structures": [{"kind": "bulk", "element": "Fe", "crystal": "fcc", "a": 3.6}],
                                      "oracle": {"kind": "emt"}})
    assert given.surface_slab_crystal() == ("Fe", 3.6)


def test_the_hottest_condition_on_the_first_structure_explores_the_wide_cell():
    cfg = OTFConfig.model_validate({
        "oracle": {"kind": "emt"},
        "structures": [{"kind": "bulk", "element": "Cu", "crystal": "fcc", "supercell": [2, 2, 2]},
                       {"kind": "bulk", "element": "Cu", "crystal": "fcc", "supercell": [2, 2, 2], "vacancies": 1}],
        "exploration": {"conditions": [{"name": "a", "temperature": 600}, {"name": "hot", "temperature": 1500,
                                        "structure": 1}, {"name": "b", "temperature": 1200},
                                       {"name": "c", "temperature": 1200}]}})
    # structure 1's 1500 K is hotter, but the wide cell repeats structure 0: its hottest is b (first of the tie)
    assert cfg.exploration.wide_cell is True and cfg.wide_exploration_condition() == "b"
    d = cfg.derived()["exploration.wide_cell"]
    assert d.reason.startswith("condition b (the hottest on structures[0]) runs in the wide cell")
    assert dd.log_lines({"exploration.wide_cell": d})[0].startswith("DEFAULTS: exploration.wide_cell = True (condition b")


def test_no_wide_exploration_without_a_wide_cell_or_when_switched_off():
    dft = OTFConfig.model_validate({"oracle": {"kind": "gpaw"}})
    assert dft.exploration.wide_cell is False and dft.wide_exploration_condition() is None
    assert dft.derived()["exploration.wide_cell"].reason.startswith("no wide cell is derived")
    off = OTFConfig.model_validate({"oracle": {"kind": "emt"}, "exploration": {"wide_cell": False}})
    assert off.wide_cell() is not None and off.wide_exploration_condition() is None
    assert "exploration.wide_cell" not in off.derived()
    # a configured cell already wider than 2 x cutoff: no derived wide cell, so nothing to explore in it
    has_one = OTFConfig.model_validate({"oracle": {"kind": "emt"}, "structures": [
        {"kind": "bulk", "element": "Cu", "crystal": "fcc", "supercell": [3, 3, 3]}]})
    assert has_one.exploration.wide_cell is False and has_one.wide_exploration_condition() is None
    assert dd.wide_exploration(True, None).value is False
    vac = OTFConfig.model_validate({"oracle": {"kind": "emt"}, "structures": [
        {"kind": "bulk", "element": "Cu", "crystal": "fcc", "supercell": [2, 2, 2], "vacancies": 1}]})
    assert vac.wide_cell() is not None and vac.wide_exploration_condition() is None
    assert vac.derived()["exploration.wide_cell"].reason.startswith("structures[0] has 1 vacancies")

def test_deformed_cells_are_added_for_elastic_constants_without_npt():
    off = dd.cell_strain_copies(False, "gpaw")
    assert off.value == 0 and "no elastic constants" in off.reason
    emt = dd.cell_strain_copies(True, "emt")
    assert emt.value == 0 and "not shipped" in emt.reason
    for oracle in ("gpaw", "chgnet"):
        on = dd.cell_strain_copies(True, oracle)
        assert on.value == 16 and "stress weight 10 " in on.reason and "rows_per_function 2 " in on.reason
    npt = dd.cell_strain_copies(True, "espresso", "npt800")
    assert npt.value == 0 and "npt800" in npt.reason


SI_GPAW = {"structures": [{"kind": "bulk", "element": "Si", "crystal": "diamond", "a": 5.43}],  # matrix.si_cfg
           "exploration": {"conditions": [{"name": "t600", "temperature": 600}, {"name": "t1200", "temperature": 1200}]},
           "oracle": {"kind": "gpaw", "cutoff_ev": 250},
           "properties": {"include": ["eos", "elastic"], "elastic_components": [0, 3]}}


def test_deformed_cells_set_the_stress_weight_and_rung_rule_left_unset():
    cfg = OTFConfig.model_validate(SI_GPAW)
    assert cfg.initial_data.cell_strain_copies == 16
    # the final fit weighs the deformed cells' stresses and allows rungs by rows; the loop's fits keep the defaults
    assert cfg.trainer.stress_weight == 0.01 and cfg.trainer.ladder.rows_per_function is None
    assert cfg.trainer.final_stress_weight == 10.0 and cfg.trainer.ladder.final_rows_per_function == 2.0
    final = cfg.final_fit_trainer()
    assert final.stress_weight == 10.0 and final.ladder.rows_per_function == 2.0
    assert final.final_stress_weight is None and final.ladder.final_rows_per_function is None
    # its own objective: the end criteria judge it, not keep-the-best's force/energy score against the loop's
    assert final.ladder.keep_best is False and cfg.trainer.ladder.keep_best is True
    # the structure itself, 8 rattled copies and 4 strains by default, plus the 16 deformed cells
    assert cfg.n_initial_structures() == 1 + 8 + 4 + 16
    line = [x for x in dd.log_lines(cfg.derived()) if "cell_strain" in x]
    assert line == [f"DEFAULTS: initial_data.cell_strain_copies = 16 ({dd.cell_strain_copies(True, 'gpaw').reason})"]
    mine = OTFConfig.model_validate({**SI_GPAW, "trainer": {"kind": "linear_ace", "stress_weight": 0.5}})
    assert mine.trainer.stress_weight == 0.5 and mine.trainer.final_stress_weight is None
    assert mine.final_fit_trainer().stress_weight == 0.5 and mine.final_fit_trainer().ladder.rows_per_function == 2.0
    # no final fit (the user's own rungs): the loop's fits take them
    own = OTFConfig.model_validate({**SI_GPAW, "trainer": {"kind": "linear_ace", "ladder": {"rungs": [
        {"number_of_functions_per_element": 100, "max_order": 3, "nradmax_by_orders": [15, 3, 2],
         "lmax_by_orders": [0, 2, 1]}]}}})
    assert not own.has_final_fit()
    assert own.trainer.stress_weight == 10.0 and own.trainer.ladder.rows_per_function == 2.0
    assert own.trainer.final_stress_weight is None and own.trainer.ladder.final_rows_per_function is None
    none = OTFConfig.model_validate({**SI_GPAW, "initial_data": {"cell_strain_copies": 0}})
    assert none.trainer.stress_weight == 0.01 and none.trainer.ladder.rows_per_function is None
    assert none.final_fit_trainer().stress_weight == 0.01 and none.final_fit_trainer().ladder.rows_per_function is None
    assert none.final_fit_trainer().ladder.keep_best is True
    assert "initial_data.cell_strain_copies" not in none.derived() and none.n_initial_structures() == 13
    no_elastic = OTFConfig.model_validate({**SI_GPAW, "properties": {"include": ["eos"]}})
    assert no_elastic.initial_data.cell_strain_copies == 0 and no_elastic.trainer.stress_weight == 0.01
    npt = OTFConfig.model_validate({**SI_GPAW, "exploration": {"conditions": [
        {"name": "t600", "temperature": 600}, {"name": "npt900", "temperature": 900, "pressure": 0.0}]}})
    assert npt.initial_data.cell_strain_copies == 0 and "npt900" in npt.derived()["initial_data.cell_strain_copies"].reason
    emt = OTFConfig.model_validate({"oracle": {"kind": "emt"}})
    assert emt.initial_data.cell_strain_copies == 0 and emt.trainer.ladder.rows_per_function is None


def test_jobs_derive_the_same_deformed_cells_and_fit_settings(tmp_path):
    """The stress weight and rows rule the deformed cells set reach the jobs as plain values; the copies are
    derived again in each job (null), to the same config."""
    from types import SimpleNamespace

    import yaml

    from mlip_autopipec.domain_models.config import config_from_dict
    from mlip_autopipec.workflow_support import load_workflow_config

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(SI_GPAW))
    config = yaml.safe_load(path.read_text())
    rcfg = load_workflow_config(config, SimpleNamespace(overwrite_configfiles=[str(path)]))
    assert config["initial_data"]["cell_strain_copies"] is None and config["trainer"]["final_stress_weight"] == 10.0
    job = config_from_dict(dict(config), path).cfg
    assert job == rcfg.cfg and job.initial_data.cell_strain_copies == 16
