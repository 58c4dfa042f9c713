"""sampling/compositions.py: the alloy's initial data spans the compositions; the rank check of the
per-element energies; the warning in the status lines and the final README."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from mlip_autopipec.domain_models.config import BulkSpec, InitialDataConfig, OTFConfig
from mlip_autopipec.domain_models.records import TrainRecord
from mlip_autopipec.sampling.compositions import (
    composition_check,
    composition_structures,
    vegard_lattice_constant,
)


def alloy(n_ni: int, a: float = 3.56):
    atoms = bulk("Cu", "fcc", a=a, cubic=True) * (2, 2, 2)
    atoms.symbols[:n_ni] = "Ni"
    return atoms


def test_variants_span_pure_phases_and_other_concentrations():
    spec = BulkSpec(element="Cu", substitutions={"Ni": 0.5})
    assert spec.composition_variants([0.0, 0.25, 0.5, 0.75, 1.0]) == [{}, {"Ni": 0.25}, {"Ni": 0.75}, {"Ni": 1.0}]
    assert BulkSpec(element="Cu").composition_variants([0.0, 1.0]) == []  # one element: nothing to span
    assert BulkSpec(element="NaCl", crystal="rocksalt", a=5.6,
                    substitutions={"K": 0.25}).composition_variants([0.0, 1.0]) == []  # a compound host


def test_ternary_variants_run_along_each_binary_line():
    spec = BulkSpec(element="Cu", substitutions={"Ni": 0.25, "Pd": 0.25})
    assert spec.composition_variants([0.0, 0.5, 1.0]) == [{}, {"Ni": 0.5}, {"Ni": 1.0}, {"Pd": 0.5}, {"Pd": 1.0}]


def test_vegard_lattice_constant_anchored_at_the_spec():
    spec = BulkSpec(element="Cu", a=3.56, substitutions={"Ni": 0.5})
    # ASE's references: Cu 3.61, Ni 3.52; the spec's 50/50 Vegard value is 3.565, its a 3.56
    assert vegard_lattice_constant(spec, {"Ni": 1.0}) == pytest.approx(3.56 + 3.52 - 3.565)
    assert vegard_lattice_constant(spec, {}) == pytest.approx(3.56 + 3.61 - 3.565)
    assert vegard_lattice_constant(BulkSpec(element="Fe", crystal="fcc", a=3.6, substitutions={"Ni": 0.5}),
                                   {}) is None  # Fe's reference state is bcc


def test_composition_structures_count_and_config_count_agree():
    cfg = OTFConfig.model_validate({"structures": [{"kind": "bulk", "element": "Cu", "a": 3.56,
                                            "substitutions": {"Ni": 0.5}}, {"kind": "bulk", "element": "Cu"}]})
    frames = composition_structures(cfg.structures, [alloy(16), bulk("Cu", cubic=True) * (2, 2, 2)],
                                    cfg.initial_data, np.random.default_rng(0))
    assert len(frames) == 4 * cfg.initial_data.composition_copies
    per = 1 + cfg.initial_data.n_rattled + len(cfg.initial_data.strains)
    assert cfg.wide_cell() is not None  # both cells narrower than 2 x cutoff: a wide copy of the first joins
    slabs = 3 * cfg.initial_data.surface_slab_copies  # the (111)/(100)/(110) slabs: initial_data.surface_slabs
    assert cfg.n_initial_structures() == 3 * per + len(frames) + slabs
    counts = sorted({a.get_chemical_symbols().count("Ni") for a in frames})
    assert counts == [0, 8, 24, 32]
    strains = [a.info["strain"] for a in frames[:5]]
    assert strains == [0.0] + cfg.initial_data.strains


def test_no_compositions_when_switched_off():
    cfg = InitialDataConfig(compositions=[])
    spec = BulkSpec(element="Cu", a=3.56, substitutions={"Ni": 0.5})
    assert composition_structures([spec], [alloy(16)], cfg, np.random.default_rng(0)) == []


def test_single_composition_training_set_fails_the_rank_check():
    frames = [alloy(16, a) for a in (3.5, 3.56, 3.6)]  # one composition, three volumes
    check = composition_check(frames)
    assert (check.rank, check.n_compositions, check.determined) == (1, 1, False)
    assert "not determined" in check.advice and "Fix:" in check.advice
    check = composition_check(frames + [alloy(0)])
    assert (check.rank, check.n_compositions, check.determined, check.advice) == (2, 2, True, None)


def test_a_compound_with_a_nonmetal_at_its_one_stoichiometry_is_information_not_a_warning():
    # MgO bulk and a (001) slab keep the formula MgO: the split of its energy between Mg and O changes no
    # energy or force of MgO; the alloy advice (substitutions) would be wrong for it
    mgo = bulk("MgO", "rocksalt", a=4.25, cubic=True)
    slab = mgo.copy()
    slab.center(vacuum=5.0, axis=2)
    check = composition_check([mgo, mgo * (1, 1, 2), slab])
    assert (check.determined, check.fixed_composition, check.warning) == (False, True, None)
    assert "compound with a nonmetal" in check.note and "substitutions" not in check.note
    # a metallic alloy at one composition stays a warning (the issue-28 blind spot)
    assert composition_check([alloy(16)]).fixed_composition is False
    # MgO at two compositions (an O vacancy) determines both terms
    vac = mgo * (2, 2, 2)
    del vac[[a.index for a in vac if a.symbol == "O"][0]]
    assert composition_check([mgo, vac]).determined


def test_single_element_is_always_determined():
    assert composition_check([alloy(0)]).determined


def test_warning_reaches_state_status_lines_and_final_readme():
    from mlip_autopipec.loop.state import _warnings
    from mlip_autopipec.domain_models.state import Action, Decision, Status, WorkflowState
    from mlip_autopipec.report.table import summary_lines
    from mlip_autopipec.steps.final import readme

    check = composition_check([alloy(16)])
    record = TrainRecord(stage="initial", n_structures=1, trainer="linear_ace", composition=check)
    warnings = _warnings(record)
    assert warnings == [check.advice]
    state = WorkflowState(status=Status.CONVERGED, iteration=0, warnings=warnings)
    assert f"WARNING: {check.advice}" in summary_lines(state)
    decision = Decision(action=Action.CONVERGED, iteration=0, reason="done", progress=1.0)
    assert f"WARNING: {check.advice}" in readme(decision, 1, ["initial"], "initial", ["Cu", "Ni"], warnings=warnings)
    ok = TrainRecord(stage="initial", n_structures=1, trainer="linear_ace", composition=composition_check([alloy(0)]))
    assert _warnings(ok) == []
