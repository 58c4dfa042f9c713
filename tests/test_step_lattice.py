"""initial_data.oracle_lattice: which crystals get the oracle's lattice constant, the equation-of-state fit
(sampling/oracle_lattice.py, steps/lattice.py), and the specs built from it. References: ASE's own
EquationOfState on EMT (an independent fit of a denser scan), not numbers from this code."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.eos import EquationOfState

from mlip_autopipec.components.registry import make_oracle
from mlip_autopipec.core.io import read_structures
from mlip_autopipec.domain_models.config import config_from_dict
from mlip_autopipec.sampling.oracle_lattice import (LatticeFit, LatticeRecord, eos_cells, targets,
                                                    with_oracle_lattice)
from mlip_autopipec.steps.initial import run_initial_structures, starting_structures
from mlip_autopipec.steps.lattice import compute_lattice, fit_lattice, read_lattice


def emt_equilibrium(element: str, a_guess: float) -> float:
    """fcc a0 of EMT from ASE's EquationOfState over 21 volumes (±6 % of a)."""
    volumes, energies = [], []
    for f in np.linspace(0.94, 1.06, 21):
        cell = bulk(element, "fcc", a=a_guess * f)
        cell.calc = EMT()
        volumes.append(cell.get_volume())
        energies.append(cell.get_potential_energy())
    return float((4 * EquationOfState(volumes, energies).fit()[0]) ** (1 / 3))


def minimal(structures, oracle="emt", **extra) -> dict:
    """A minimal config that asks for the oracle's lattice (derived off for EMT, the test oracle here)."""
    return {"structures": structures, "oracle": {"kind": oracle}, "initial_data": {"oracle_lattice": True},
            "exploration": {"conditions": [{"name": "t600", "temperature": 600}]}, **extra}


def test_targets_are_the_crystals_built_from_reference_data(tmp_path):
    specs = [{"kind": "bulk", "element": "Al", "crystal": "fcc"},
             {"kind": "bulk", "element": "Al", "crystal": "fcc", "vacancies": 1},      # the same crystal: once
             {"kind": "bulk", "element": "Cu", "crystal": "fcc", "a": 3.6},           # the user's a: kept
             {"kind": "bulk", "element": "Cu", "crystal": "fcc", "substitutions": {"Ni": 0.5}},  # alloy: kept
             {"kind": "bulk", "element": "Fe", "crystal": "bcc"}]
    rcfg = config_from_dict(minimal(specs), tmp_path / "c.yaml")
    assert [(e, c, round(a, 3)) for e, c, a in targets(rcfg.cfg.structures)] == [("Al", "fcc", 4.05), ("Fe", "bcc", 2.87)]


def test_derived_on_for_a_dft_oracle_and_off_for_emt_mock_or_a_given_lattice(tmp_path):
    def derived(structures, oracle):
        return config_from_dict({"structures": structures, "oracle": {"kind": oracle},
                                 "exploration": {"conditions": [{"name": "t600", "temperature": 600}]}},
                                tmp_path / "c.yaml").cfg

    al = [{"kind": "bulk", "element": "Al", "crystal": "fcc"}]
    gpaw = derived(al, "gpaw")
    assert gpaw.initial_data.oracle_lattice is True
    assert "gpaw's own equilibrium" in gpaw.derived()["initial_data.oracle_lattice"].reason
    emt = derived(al, "emt")
    assert emt.initial_data.oracle_lattice is False
    assert "benchmarks were measured" in emt.derived()["initial_data.oracle_lattice"].reason
    assert derived(al, "mock").initial_data.oracle_lattice is False
    given = [{"kind": "bulk", "element": "Al", "crystal": "fcc", "a": 4.0}]
    assert derived(given, "gpaw").initial_data.oracle_lattice is False
    off = config_from_dict(minimal(al, "gpaw", initial_data={"oracle_lattice": False}), tmp_path / "c.yaml").cfg
    assert off.initial_data.oracle_lattice is False and "initial_data.oracle_lattice" not in off.derived()


def test_emt_lattice_matches_an_independent_equation_of_state(tmp_path):
    specs = [{"kind": "bulk", "element": "Al", "crystal": "fcc"}, {"kind": "bulk", "element": "Ni", "crystal": "fcc"}]
    rcfg = config_from_dict(minimal(specs), tmp_path / "c.yaml")
    record = compute_lattice(rcfg, make_oracle(rcfg.cfg.oracle), tmp_path / "cache")
    al, ni = record.fits
    assert al.fitted and ni.fitted
    assert al.a == pytest.approx(emt_equilibrium("Al", 4.05), abs=1e-3)  # 3.994 Å, ASE's reference 4.05
    assert ni.a == pytest.approx(emt_equilibrium("Ni", 3.52), abs=1e-3)
    assert len(al.volumes) == 7 and al.bulk_modulus_gpa > 0
    assert len(list((tmp_path / "cache").glob("*.extxyz"))) == 14  # every calculation cached: a rerun computes none


def test_too_few_volumes_or_a_minimum_outside_the_scan_keep_the_reference():
    cells = eos_cells("Al", "fcc", 4.05)
    for c in cells:
        c.calc = EMT()
        c.get_potential_energy()
    few = fit_lattice("Al", "fcc", 4.05, cells[:4] + [None, None, None])
    assert not few.fitted and few.a == 4.05 and "4 of 7" in few.note
    for a_start in (4.3, 4.6, 3.7):  # EMT's minimum is 6-14 % below the first two, 8 % above the last
        far = [bulk("Al", "fcc", a=a_start * (1 + s)) for s in np.linspace(-0.04, 0.04, 7)]
        for c in far:
            c.calc = EMT()
            c.get_potential_energy()
        outside = fit_lattice("Al", "fcc", a_start, far)
        assert not outside.fitted and outside.a == a_start
        assert outside.note.startswith("no minimum of the oracle's energy within ±4 % of ASE's a")
        assert outside.note.endswith("set `a:` of the structure")


def test_specs_get_the_fitted_lattice_constant_portfolio_polymorphs_included(tmp_path):
    portfolio = {"enabled": True, "element": "Al", "liquid": {"enabled": False}, "defects": {"divacancy": False},
                 "surfaces": {"facets": ["111"]}, "strained": {"strains": []}}
    rcfg = config_from_dict({"oracle": {"kind": "emt"}, "portfolio": portfolio,
                             "structures": [{"kind": "bulk", "element": "Al", "crystal": "fcc", "a": 4.1}]},
                            tmp_path / "c.yaml")
    record = LatticeRecord(fits=[LatticeFit(element="Al", crystal="fcc", a_reference=4.05, a=3.99, fitted=True)])
    before, after = rcfg.cfg.structures, with_oracle_lattice(rcfg.cfg.structures, record)
    assert after[0].a == 4.1  # the user's own spec
    for old, new in zip(before[1:], after[1:]):
        assert new.a == pytest.approx(old.a * 3.99 / 4.05, abs=1e-5), new.name  # fcc, bcc, hcp, slab, cluster
        assert "oracle equation of state" in new.a_source and "reference_states" not in new.a_source
    assert {s.crystal for s in after[1:]} >= {"fcc", "bcc", "hcp"}


def test_the_initial_job_writes_the_record_and_the_structures_use_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rcfg = config_from_dict(minimal([{"kind": "bulk", "element": "Al", "crystal": "fcc", "supercell": [2, 2, 2]}]),
                            tmp_path / "c.yaml")
    run_initial_structures(rcfg, "initial/selected.xyz", "initial/lattice.json")
    record = read_lattice("initial/lattice.json")
    a0 = emt_equilibrium("Al", 4.05)
    assert record.fits[0].a == pytest.approx(a0, abs=1e-3)
    assert starting_structures(rcfg)[0].cell.lengths() == pytest.approx([2 * a0] * 3, abs=2e-3)
    assert starting_structures(rcfg, lattice=None)[0].cell.lengths() == pytest.approx([8.1] * 3)  # preflight
    slabs = [f for f in read_structures("initial/selected.xyz") if f.info["source"] == "initial:surface_slab"]
    assert slabs  # the properties stage's surfaces (derived on for EMT) are built at the oracle's a too
    for slab in slabs:
        assert slab.cell.lengths()[1] == pytest.approx(2 * a0 / np.sqrt(2), abs=2e-3), slab.info["facet"]
    assert json.loads((tmp_path / "initial/lattice.json").read_text())["fits"][0]["element"] == "Al"


def test_a_step_without_the_record_says_which_file_is_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rcfg = config_from_dict(minimal([{"kind": "bulk", "element": "Al", "crystal": "fcc"}]), tmp_path / "c.yaml")
    with pytest.raises(RuntimeError, match="initial/lattice.json is missing"):
        starting_structures(rcfg)
