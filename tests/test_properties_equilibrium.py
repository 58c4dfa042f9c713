"""Every bulk property at each model's own equilibrium, and the table's self-check (B from the Cij
against the EOS B0). Expectations are computed here with ASE directly (energy scans, stresses of
strained cells), not with the modules under test."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.eos import EquationOfState

from mlip_autopipec.core.io import read_json, read_structures
from mlip_autopipec.domain_models.config import config_from_dict
from mlip_autopipec.domain_models.properties_config import PropertiesConfig
from mlip_autopipec.properties import EV_PER_A3_TO_GPA, TASK, equilibrium
from mlip_autopipec.properties.analyze import analyze
from mlip_autopipec.properties.compare import compare
from mlip_autopipec.properties.consistency import NAME, bulk_modulus_check
from mlip_autopipec.properties.evaluate import evaluate
from mlip_autopipec.properties.system import PropertySystem, build_tasks
from test_properties import StretchedEMT, cu_system


def emt_a0() -> float:
    """EMT Cu's lattice constant from an energy scan (ASE's EquationOfState, not our fit or relaxation)."""
    a_s = np.linspace(3.55, 3.63, 9)
    vols, energies = [], []
    for a in a_s:
        atoms = bulk("Cu", "fcc", a=a, cubic=True)
        atoms.calc = EMT()
        vols.append(atoms.get_volume())
        energies.append(atoms.get_potential_energy())
    v0, _, _ = EquationOfState(vols, energies, eos="birchmurnaghan").fit()
    return (v0) ** (1 / 3)


def emt_elastic_at(a: float, strain: float = 0.005) -> dict[str, float]:
    """C11, C12, C44 of EMT Cu at `a`: central stress differences of the conventional cell."""
    cell = bulk("Cu", "fcc", a=a, cubic=True)

    def stress(eps):
        s = cell.copy()
        s.set_cell(cell.cell.array @ (np.eye(3) + eps), scale_atoms=True)
        s.calc = EMT()
        return s.get_stress(voigt=True) * EV_PER_A3_TO_GPA

    xx = np.diag([strain, 0, 0])
    yz = np.zeros((3, 3))
    yz[1, 2] = yz[2, 1] = strain / 2
    d_xx = (stress(xx) - stress(-xx)) / (2 * strain)
    d_yz = (stress(yz) - stress(-yz)) / (2 * strain)
    return {"C11": d_xx[0], "C12": d_xx[1], "C44": d_yz[3]}


def side(pcfg, system, calc):
    """One model's column as the stage computes it: relax, build the tasks there, evaluate, analyze."""
    at_eq, relaxed, why = equilibrium.relaxed_system(system, calc, pcfg)
    assert why is None and relaxed is not None
    results = {t.info[TASK]: evaluate(t, calc, pcfg.fmax, pcfg.max_relax_steps) for t in build_tasks(pcfg, at_eq)}
    results[equilibrium.TASK] = relaxed
    return analyze(results, system, pcfg)


def test_each_column_is_computed_at_its_own_models_equilibrium():
    """Started at 3.61 Å (ASE's table), the oracle's column equals EMT's constants at EMT's a0 and
    the potential's (EMT with every length x1.02: a0 x1.02, Cij / 1.02^3) its own, not the oracle's."""
    pcfg = PropertiesConfig(include=["eos", "elastic"], elastic_components=[0, 3])
    a0 = emt_a0()
    expected = emt_elastic_at(a0)
    assert expected["C11"] == pytest.approx(172.6, rel=0.005)  # issue 26's values
    oracle = side(pcfg, cu_system(3.61), EMT())
    potential = side(pcfg, cu_system(3.61), StretchedEMT(1.02))
    o_val, o_det, _ = oracle
    p_val, p_det, _ = potential
    assert o_det["equilibrium"]["a"] == pytest.approx(a0, abs=2e-4)
    assert p_det["equilibrium"]["a"] == pytest.approx(1.02 * a0, abs=2e-4)
    assert o_det["equilibrium"]["residual_stress_GPa"] < 0.05
    for name, value in expected.items():
        assert o_val[name] == pytest.approx(value, rel=0.002), name
        assert p_val[name] == pytest.approx(value / 1.02**3, rel=0.002), name
    assert o_val["lattice_constant"] == pytest.approx(a0, abs=5e-4)
    records = {r.name: r for r in compare(oracle, potential, pcfg)}
    assert records[NAME].ok is True
    assert records[NAME].oracle < 0.005 and records[NAME].potential < 0.005


def test_the_bulk_modulus_check_catches_constants_away_from_equilibrium():
    """At 3.61 Å without relaxing (the old behaviour) (C11 + 2 C12)/3 misses the EOS B0 by ~7 %."""
    pcfg = PropertiesConfig(include=["eos", "elastic"], elastic_components=[0, 3])
    system = cu_system(3.61)
    results = {t.info[TASK]: evaluate(t, EMT(), pcfg.fmax, pcfg.max_relax_steps) for t in build_tasks(pcfg, system)}
    values, details, _ = analyze(results, system, pcfg)
    check = details[NAME]
    assert check["b_elastic"] == pytest.approx((values["C11"] + 2 * values["C12"]) / 3)
    assert check["rel_diff"] > 0.05
    rec = {r.name: r for r in compare((values, details, {}), (values, details, {}), pcfg)}[NAME]
    assert rec.ok is False and rec.tolerance_kind == "consistency"


def test_the_check_is_general_for_a_non_cubic_crystal_and_skips_with_a_reason():
    """hcp Cu (clamped ions): the Voigt sum of the full 3x3 block equals the EOS B0 at its own
    equilibrium (c/a relaxed too); relaxed-ion constants of a non-cubic crystal are skipped."""
    prim = bulk("Cu", "hcp", a=2.55, c=4.2)
    system = PropertySystem("bulk", prim, prim.copy(), "Cu", "hcp", 2.55)
    pcfg = PropertiesConfig(include=["eos", "elastic"], elastic_components=[0, 1, 2], relax_ions="never")
    values, details, _ = side(pcfg, system, EMT())
    c = np.array(details["elastic_matrix_GPa"], dtype=float)
    assert details[NAME]["b_elastic"] == pytest.approx(c[:3, :3].sum() / 9, rel=1e-4)
    assert details[NAME]["rel_diff"] <= details[NAME]["tolerance"]
    cell = details["equilibrium"]["cell"]
    assert np.linalg.norm(cell[2]) / np.linalg.norm(cell[0]) != pytest.approx(4.2 / 2.55, abs=1e-3)  # c/a relaxed
    skipped = bulk_modulus_check(values, details["elastic_matrix_GPa"], None, cubic=False, relax_ions=True,
                                 tolerance=0.01)
    assert "non-cubic" in skipped.skipped and skipped.rel_diff is None
    partial = [[row[0], None, None, row[3], None, None] for row in details["elastic_matrix_GPa"]]
    assert "3x3 block" in bulk_modulus_check(values, partial, None, cubic=False, relax_ions=False,
                                             tolerance=0.01).skipped


def test_oracle_equilibrium_is_one_cached_label_and_its_tasks_start_there(tmp_path):
    """property_equilibrium: the oracle relaxes the crystal once (a second call reads the cache);
    the label job builds the elastic cells at that lattice constant."""
    from mlip_autopipec.steps.properties import run_property_equilibrium, run_property_label_chunk

    raw = {"structures": [{"kind": "bulk", "element": "Cu", "crystal": "fcc", "a": 3.61}], "oracle": {"kind": "emt"},
           "properties": {"enabled": True, "include": ["elastic"], "elastic_components": [0]}}
    rcfg = config_from_dict(raw, tmp_path / "config.yaml")
    eq, rec = str(tmp_path / "eq.extxyz"), str(tmp_path / "eq.json")
    first = run_property_equilibrium(rcfg, eq, rec, str(tmp_path / "cache"))
    assert first.computed_now and run_property_equilibrium(rcfg, eq, rec, str(tmp_path / "cache")).computed_now is False
    a0 = emt_a0()
    assert read_json(rec)["equilibrium"]["a"] == pytest.approx(a0, abs=2e-4)
    run_property_label_chunk(rcfg, None, 0, str(tmp_path / "l.extxyz"), str(tmp_path / "l.json"),
                             str(tmp_path / "cache"), equilibrium_file=eq)
    labelled = {a.info[TASK]: a for a in read_structures(tmp_path / "l.extxyz")}
    assert labelled["elastic/0+"].cell.lengths()[1] == pytest.approx(a0, abs=2e-4)  # yy unstrained: a0
    assert labelled["elastic/0+"].cell.lengths()[0] == pytest.approx(a0 * 1.01, abs=3e-4)


def test_cheap_mode_gives_the_oracle_a_single_point_at_the_potentials_equilibrium_and_no_job_of_its_own(tmp_path):
    from mlip_autopipec.properties.jobs import jobs_per_potential, n_property_jobs, property_tasks

    raw = {"structures": [{"kind": "bulk", "element": "Cu", "crystal": "fcc", "a": 3.61}], "oracle": {"kind": "emt"},
           "labeling": {"structures_per_job": 7}, "properties": {"enabled": True, "include": ["eos"], "cheap": True}}
    cheap = config_from_dict(raw, tmp_path / "config.yaml")
    tasks = property_tasks(cheap)
    assert [t.info[TASK] for t in tasks][-1] == equilibrium.TASK and not tasks[-1].info["prop_relax"]
    assert len(tasks) == 8 and n_property_jobs(cheap) == 2  # 7 EOS cells + the equilibrium single point
    assert "property_equilibrium" not in jobs_per_potential(cheap)
    full = config_from_dict({**raw, "properties": {**raw["properties"], "cheap": False}}, tmp_path / "config.yaml")
    assert len(property_tasks(full)) == 7 and jobs_per_potential(full)["property_equilibrium"] == 1


def test_the_check_row_in_the_report_table_and_the_status_line(tmp_path):
    from mlip_autopipec.core.io import write_json, write_structures
    from mlip_autopipec.loop.property_state import property_counts, summary_line
    from mlip_autopipec.properties.consistency import record
    from mlip_autopipec.report.properties import _ratio, table_rows

    ok = record({"b_eos": 134.4, "b_elastic": 134.5, "rel_diff": 0.0008, "tolerance": 0.0102},
                {"b_eos": 134.6, "b_elastic": 134.9, "rel_diff": 0.0016, "tolerance": 0.0106})
    assert ok.ok is True and _ratio(ok) == pytest.approx(0.0016 / 0.0106)
    row = table_rows([ok])[0]
    assert row[2:4] == ["0.16 %", "0.08 %"] and row[6] == "yes"
    bad = record({"b_eos": 134.4, "b_elastic": 125.2, "rel_diff": 0.0686, "tolerance": 0.011}, None)
    assert bad.ok is True and "potential: not computed" in bad.skipped  # one side missing: skipped
    bad = record({"b_eos": 134.4, "b_elastic": 125.2, "rel_diff": 0.0686, "tolerance": 0.011},
                 {"b_eos": 134.4, "b_elastic": 134.4, "rel_diff": 0.0, "tolerance": 0.011})
    assert bad.ok is False and table_rows([bad])[0][6] == "NO"
    d = tmp_path / "final_fit" / "properties"
    write_structures(d / "tasks.extxyz", [bulk("Cu")])
    write_json(d / "properties.json", [ok.model_dump()])
    assert "B(Cij) = B(EOS) check ok" in summary_line(property_counts(tmp_path))
    write_json(d / "properties.json", [bad.model_dump()])
    assert "B(Cij) = B(EOS) check FAILED" in summary_line(property_counts(tmp_path))
