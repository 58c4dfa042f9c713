"""Slabs, wires, clusters and molecules: periodicity checks, per-pair minimum distances, the DFT box,
the swarm's rigid modes, and pyace on non-bulk structures (real pyace fits, EMT labels)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.cluster import Icosahedron
from ase.data import covalent_radii

from mlip_autopipec.sampling import candidate_generator as cg
from mlip_autopipec.core.errors import StructureError
from mlip_autopipec.core.min_distance import PairLimits, check_against, parse_pair
from mlip_autopipec.core.periodicity import ace_view, boxed, check_vacuum, kind, periodic_widths, vacuum_widths
from mlip_autopipec.sampling.system_checks import narrow_cells_advice


def test_kind_from_pbc():
    assert kind(bulk("Cu")) == "bulk"
    assert kind(fcc111("Pt", (2, 2, 3), vacuum=6)) == "slab"
    assert kind(Icosahedron("Cu", 2)) == "cluster"
    wire = bulk("Cu", cubic=True)
    wire.pbc = [False, False, True]
    assert kind(wire) == "wire"


def test_vacuum_width_is_the_gap_between_slab_and_image():
    slab = fcc111("Pt", (2, 2, 4), vacuum=7.0)  # 7 Å on each side: a 14 Å gap
    assert vacuum_widths(slab) == {2: pytest.approx(14.0)}
    check_vacuum(slab, cutoff=5.0, margin=2.0, source="s")
    with pytest.raises(StructureError, match=r"at least 17\.00 Å.*lengthen cell vector c by 3\.00 Å"):
        check_vacuum(slab, cutoff=15.0, margin=2.0, source="s")


def test_periodic_widths_are_plane_spacings():
    cubic = bulk("Cu", "fcc", a=3.6, cubic=True) * (2, 2, 2)
    assert periodic_widths(cubic) == pytest.approx({0: 7.2, 1: 7.2, 2: 7.2})
    prim = bulk("Cu", "fcc", a=3.6)  # rhombohedral cell, edges a/sqrt(2): planes are closer than the edge
    assert list(periodic_widths(prim).values()) == pytest.approx([3.6 / np.sqrt(3)] * 3)
    slab = fcc111("Cu", (4, 4, 3), a=3.6, vacuum=8.0)  # 60-degree in-plane cell; the vacuum axis is not periodic
    assert periodic_widths(slab) == pytest.approx({0: 4 * 3.6 / np.sqrt(2) * np.sqrt(3) / 2,
                                                   1: 4 * 3.6 / np.sqrt(2) * np.sqrt(3) / 2})
    assert periodic_widths(molecule("CH4")) == {}


def test_narrow_cells_advice_only_when_every_periodic_cell_is_narrow():
    small = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)  # 7.22 Å
    wide = bulk("Cu", "fcc", a=3.61, cubic=True) * (3, 3, 3)  # 10.83 Å
    advice = narrow_cells_advice([small, small[:-1]], cutoff=5.0)
    assert "10 Å" in advice and "7.22 Å" in advice and "structures[0]" in advice
    assert narrow_cells_advice([small, wide], cutoff=5.0) is None
    assert "structures[1]" in narrow_cells_advice([small, wide], cutoff=6.0)  # the widest one is named
    assert narrow_cells_advice([molecule("CH4")], cutoff=5.0) is None  # no images at all
    assert narrow_cells_advice([fcc111("Cu", (3, 3, 3), vacuum=8.0)], cutoff=5.0) is not None


def test_ace_view_and_box():
    slab = fcc111("Pt", (2, 2, 3), vacuum=6.0)
    assert ace_view(slab).pbc.all() and list(slab.pbc) == [True, True, False]
    np.testing.assert_allclose(ace_view(slab).cell, slab.cell)
    mol = molecule("H2O")  # no cell
    box = boxed(mol, padding=5.0)
    assert box.pbc.all()
    np.testing.assert_allclose(box.cell.lengths(), np.ptp(mol.positions, axis=0) + 10.0)
    np.testing.assert_allclose(box.get_all_distances(), mol.get_all_distances(), atol=1e-12)
    assert not ace_view(mol).pbc.any()


def test_pair_limits_default_and_overrides():
    lim = PairLimits()
    assert lim.pair(29, 29) == pytest.approx(0.6 * 2 * covalent_radii[29])
    lim = PairLimits.from_setting({"H-O": 0.8})
    assert lim.pair(1, 8) == lim.pair(8, 1) == 0.8
    assert lim.pair(1, 1) == pytest.approx(0.6 * 2 * covalent_radii[1])
    assert PairLimits.from_setting(1.5).pair(1, 8) == 1.5
    assert parse_pair("O-H") == parse_pair("H-O") == (1, 8)
    with pytest.raises(ValueError, match="element pair"):
        parse_pair("OH")


def test_close_atoms_per_pair_and_minimum_image_only_along_periodic_axes():
    # O-H 0.96 Å is fine for the covalent default but not for a flat 1.5 Å
    water = molecule("H2O")
    assert cg.close_atoms(water, PairLimits()).size == 0
    assert cg.close_atoms(water, 1.5).size == 3
    # two atoms 1.0 Å apart only through the boundary along z: close for a bulk cell, not for a slab
    atoms = Atoms("Cu2", positions=[[0, 0, 0.5], [0, 0, 9.5]], cell=[5, 5, 10], pbc=True)
    assert cg.close_atoms(atoms, PairLimits()).size == 2
    atoms.pbc = [True, True, False]
    assert cg.close_atoms(atoms, PairLimits()).size == 0


def test_check_against_names_pair_and_distance():
    cu = bulk("Cu", "fcc", a=3.61, cubic=True)
    msg = check_against(cu, PairLimits.from_setting(3.0), "structures[0]")
    assert "Cu-Cu" in msg and "2.553" in msg and "structures[0]" in msg
    assert check_against(cu, PairLimits(), "structures[0]") is None


def test_rattle_respects_pair_limits_in_a_molecule():
    ch4 = molecule("CH4")
    lim = PairLimits.from_setting({"C-H": 1.0, "H-H": 1.6})
    out = cg.rattle(ch4, 5, 0.15, lim, np.random.default_rng(1))
    for a in out:
        assert cg.close_atoms(a, lim).size == 0
        assert not a.pbc.any()


def test_external_modes_by_periodicity():
    cluster = Icosahedron("Cu", 2)
    assert cg.external_modes(cluster).shape[1] == 6
    slab = fcc111("Cu", (2, 2, 2), vacuum=6)
    assert cg.external_modes(slab).shape[1] == 3
    wire = cluster.copy()
    wire.cell = [20, 20, 10]
    wire.pbc = [False, False, True]
    ext = cg.external_modes(wire)
    assert ext.shape[1] == 4
    # the 4th vector is the rotation about z: mass-weighted r x z-axis, orthogonal to translations
    r = wire.positions - wire.get_center_of_mass()
    rot_z = (np.sqrt(wire.get_masses())[:, None] * np.cross([0, 0, 1.0], r)).ravel()
    assert np.linalg.norm(ext @ (ext.T @ rot_z)) == pytest.approx(np.linalg.norm(rot_z))


def test_cluster_normal_modes_have_no_rigid_motion():
    from ase.calculators.emt import EMT

    cluster = Icosahedron("Cu", 2)  # 13 atoms
    h = cg.hessian(cluster, EMT())
    freqs, modes = cg.normal_modes(h, cluster.get_masses(), cg.external_modes(cluster))
    assert freqs.size == 3 * 13 - 6
    out = cg.normal_mode_displacements(cluster, EMT(), 3, 600.0, PairLimits(), np.random.default_rng(0), hess=h)
    for a in out:
        d = a.positions - cluster.positions
        assert np.linalg.norm(d.mean(axis=0)) < 1e-10  # no net translation (equal masses)
        assert np.linalg.norm(np.cross(cluster.positions - cluster.get_center_of_mass(), d).sum(axis=0)) < 1e-8


def test_emt_labels_of_slab_and_cluster_carry_no_stress():
    from mlip_autopipec.components.oracles.emt import EMTOracle

    oracle = EMTOracle()
    for atoms in (fcc111("Cu", (2, 2, 2), vacuum=6), Icosahedron("Cu", 2)):
        out = oracle.label(atoms)
        assert "stress" not in out.calc.results
        assert list(out.pbc) == list(atoms.pbc)


def test_dft_box_and_label_back_on_the_original_geometry():
    from ase.calculators.singlepoint import SinglePointCalculator

    from mlip_autopipec.components.oracles.common import boxed_for_code, on_original_geometry

    mol = molecule("CH4")
    work = boxed_for_code(mol, 4.0)
    work.calc = SinglePointCalculator(work, energy=-1.0, forces=np.ones((5, 3)))
    out = on_original_geometry(work, mol)
    np.testing.assert_allclose(out.positions, mol.positions)
    assert not out.pbc.any() and out.cell.rank == 0
    assert out.get_potential_energy() == -1.0 and out.get_forces().shape == (5, 3)


def _labelled(frames):
    from mlip_autopipec.components.oracles.emt import EMTOracle

    oracle = EMTOracle()
    return [oracle.label(f) for f in frames]


def _rattled(atoms, n, stdev, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = atoms.copy()
        a.positions += rng.normal(0, stdev, a.positions.shape)
        out.append(a)
    return out


@pytest.mark.parametrize("system", ["slab", "cluster"])
def test_linear_ace_fit_and_gamma_on_slab_and_cluster(tmp_path, system):
    """pyace refuses pbc T T F; the fit, the active set and the calculator see the periodic view."""
    from mlip_autopipec.components.base import PotentialFiles
    from mlip_autopipec.components.ace.common import max_gamma
    from mlip_autopipec.components.trainers.linear_ace import LinearAceTrainer
    from mlip_autopipec.domain_models.config import AceBasisConfig, LinearAceTrainerConfig

    atoms = fcc111("Cu", (2, 2, 3), vacuum=6.0) if system == "slab" else Icosahedron("Cu", 2)
    frames = _labelled(_rattled(atoms, 6, 0.05, 0))
    trainer = LinearAceTrainer(LinearAceTrainerConfig(basis=AceBasisConfig(number_of_functions_per_element=20)))
    metrics = trainer.fit(frames, tmp_path, {"Cu": 0.0}, None, 0)
    assert metrics["train_force_rmse"] < 0.1
    calc = trainer.calculator(PotentialFiles.in_dir(tmp_path), with_gamma=True)
    probe = frames[0].copy()
    probe.calc = calc
    np.testing.assert_allclose(probe.get_forces(), frames[0].get_forces(), atol=0.3)
    assert max_gamma(calc, probe) < 1.5
    far = atoms.copy()
    far.positions *= 0.9  # compressed: well outside the training data
    assert max_gamma(calc, far) > 2.0


def test_dilute_element_gets_an_active_set(tmp_path):
    """One Ni in Cu31: fewer Ni environments than basis functions no longer stops the fit, and the
    MaxVol selector still ranks candidates."""
    from mlip_autopipec.components.base import PotentialFiles
    from mlip_autopipec.components.selectors.maxvol import MaxVolSelector
    from mlip_autopipec.components.trainers.linear_ace import LinearAceTrainer
    from mlip_autopipec.domain_models.config import AceBasisConfig, LinearAceTrainerConfig, MaxVolSelectorConfig

    host = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    host[0].symbol = "Ni"
    frames = _labelled(_rattled(host, 8, 0.05, 1))
    trainer = LinearAceTrainer(LinearAceTrainerConfig(basis=AceBasisConfig(number_of_functions_per_element=30)))
    trainer.fit(frames, tmp_path, {"Cu": 0.0, "Ni": 0.0}, None, 0)
    potential = PotentialFiles.in_dir(tmp_path)
    with np.load(potential.asi) as data:
        assert data["Ni"].shape == (30, 30) and not data["Ni"].any()  # not monitored yet: its neighbours are
        assert np.linalg.matrix_rank(data["Cu"]) == 30
    calc = trainer.calculator(potential, with_gamma=True)
    probe = frames[3].copy()
    probe.calc = calc
    gamma = calc.get_property("gamma", probe)
    assert gamma[0] == 0.0 and 0 < gamma[1:].max() <= 1.01 + 1e-6  # a training structure
    far = host.copy()
    far.positions[0] += [0.5, 0.3, 0.0]  # the Ni atom pushed towards its neighbours
    far.calc = calc
    g_far = calc.get_property("gamma", far)
    assert g_far[0] == 0.0 and g_far.max() > 2.0  # the Cu neighbours see it
    picked = MaxVolSelector(MaxVolSelectorConfig(n_select=3)).select(_rattled(host, 6, 0.1, 2), potential, 3, 0)
    assert len(set(picked)) == 3


def test_maxvol_rows_in_the_row_space_of_rank_deficient_projections():
    from mlip_autopipec.components.ace.common import maxvol_rows, padded_inverse

    rng = np.random.default_rng(0)
    a0 = rng.normal(size=(12, 5)) @ rng.normal(size=(5, 20))  # 12 environments spanning 5 of 20 directions
    rows = maxvol_rows(a0)
    assert len(rows) == 5 and len(set(rows)) == 5
    inv = padded_inverse(a0[rows], 20)
    assert inv.shape == (20, 20)
    gamma = np.abs(a0 @ inv).max(axis=1)
    assert gamma.max() <= 1.01 + 1e-9 and np.allclose(gamma[rows], 1.0)
    assert maxvol_rows(np.zeros((4, 20))).size == 0  # nothing spanned: no rows (pyace's MaxVol would fail)


@pytest.mark.slow
def test_molecule_fit_and_selection_with_few_distinct_environments(tmp_path):
    """CH4: its H atoms span few directions of the basis (MaxVol on all projections is singular)."""
    from mlip_autopipec.components.base import PotentialFiles
    from mlip_autopipec.components.selectors.maxvol import MaxVolSelector
    from mlip_autopipec.components.trainers.linear_ace import LinearAceTrainer
    from mlip_autopipec.domain_models.config import AceBasisConfig, LinearAceTrainerConfig, MaxVolSelectorConfig

    ch4 = molecule("CH4")
    frames = _labelled(_rattled(ch4, 12, 0.04, 3))
    trainer = LinearAceTrainer(LinearAceTrainerConfig(basis=AceBasisConfig(number_of_functions_per_element=60)))
    trainer.fit(frames, tmp_path, {"C": 0.0, "H": 0.0}, None, 0)
    potential = PotentialFiles.in_dir(tmp_path)
    candidates = _rattled(ch4, 40, 0.08, 4)
    picked = MaxVolSelector(MaxVolSelectorConfig(n_select=5)).select(candidates, potential, 5, 0)
    assert len(set(picked)) == 5
