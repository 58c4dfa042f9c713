"""Cut-outs of large structures (labeling.max_atoms): geometry, trust weights, fit and swarm."""

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.neighborlist import neighbor_list

from mlip_autopipec.sampling.cutout_swarm import cutout_swarm
from mlip_autopipec.sampling.cutouts import (
    FORCE_WEIGHT,
    CutoutGeometry,
    box_cell,
    box_cutout,
    centres_farthest_point,
    centres_from_gamma,
    cluster_cutout,
    displacements,
    resolve_geometry,
)
from mlip_autopipec.core.errors import UserError
from mlip_autopipec.core.label_weights import pacemaker_weights, row_weight_factors
from mlip_autopipec.domain_models.config import CandidatesConfig, OTFConfig
from mlip_autopipec.domain_models.cutout_config import CutoutConfig


def defect_cell(seed=0, rattle=0.08, repeat=5):
    """fcc Cu (a=3.59, EMT's), a di-vacancy, thermal-like noise: distinct environments, and local."""
    atoms = bulk("Cu", "fcc", a=3.59, cubic=True) * (repeat, repeat, repeat)
    del atoms[[0, 1]]
    atoms.positions += np.random.default_rng(seed).normal(0, rattle, atoms.positions.shape)
    return atoms


def core_force_error(parent, cut, centre, core_radius):
    """Max |F_cut - F_parent| (eV/Å) over the core atoms, with EMT on both."""
    parent = parent.copy()
    parent.calc = EMT()
    ref = parent.get_forces()
    dist = np.linalg.norm(displacements(parent, centre), axis=1)
    core_parent = np.where(dist <= core_radius + 1e-9)[0]  # cut-outs keep the parent's atom order
    cut = cut.copy()
    cut.calc = EMT()
    got = cut.get_forces()[cut.arrays[FORCE_WEIGHT] > 0]
    assert len(got) == len(core_parent) > 1
    return float(np.abs(got - ref[core_parent]).max())


@pytest.mark.parametrize("kind", ["cluster", "box"])
def test_core_forces_equal_full_cell_only_with_a_large_enough_margin(kind):
    parent = defect_cell()
    centre = 60
    make = (lambda g: cluster_cutout(parent, centre, g, 8.0)) if kind == "cluster" else \
        (lambda g: box_cutout(parent, centre, g, 1.5))
    wide = CutoutGeometry(kind, 8.9, 2.6, 2.6)  # margin 6.3 Å: beyond EMT's reach
    narrow = CutoutGeometry(kind, 4.6, 2.6, 2.6)  # margin 2.0 Å: EMT sees the cut
    assert core_force_error(parent, make(wide), centre, 2.6) < 1e-3
    assert core_force_error(parent, make(narrow), centre, 2.6) > 1e-2


def test_box_has_no_atom_closer_than_min_distance_to_any_image():
    # a liquid-like parent: no fraction of its cell is a lattice translation, so atoms of opposite
    # faces meet across the box boundary and must be thinned out
    parent = defect_cell(seed=3, rattle=0.35, repeat=5)
    d_min = 0.95 * float(neighbor_list("d", parent, 3.0).min())
    for centre in (5, 200):
        geom = CutoutGeometry("box", 4.3, 1.0, 1.0)
        cut = box_cutout(parent, centre, geom, min_distance=d_min)
        assert cut.cell.lengths().max() < 0.9 * parent.cell.lengths().min()  # faces glued, not the parent's
        i, j, d = neighbor_list("ijd", cut, d_min)
        assert d.size == 0, f"atoms {i[:3]}, {j[:3]} at {d[:3]} Å"
        # and the sphere itself is intact
        dist = np.linalg.norm(displacements(parent, centre), axis=1)
        assert len(cut) >= int(np.sum(dist <= geom.radius))


def test_box_of_a_crystal_continues_its_lattice():
    parent = defect_cell(rattle=0.05)
    cell, matched = box_cell(parent, 100, 5.3)
    assert matched
    np.testing.assert_allclose(np.diag(cell), [3 * 3.59] * 3)  # 3 of the 5 cubic cells: 2R = 10.6 fits in 10.77


def test_centres_by_gamma_highest_first_and_skip_covered_atoms():
    atoms = defect_cell(rattle=0.0)
    gamma = np.ones(len(atoms))
    nn = int(np.argsort(np.linalg.norm(displacements(atoms, 50), axis=1))[1])  # nearest neighbour of 50
    gamma[[50, nn, 300]] = [9.0, 8.0, 3.0]
    assert centres_from_gamma(atoms, gamma, 2.0, 4, cover_radius=3.0) == [50, 300]
    assert centres_from_gamma(atoms, gamma, 2.0, 4, cover_radius=1.0) == [50, nn, 300]
    assert centres_from_gamma(atoms, gamma, 2.0, 1, cover_radius=3.0) == [50]


def test_farthest_point_centres_find_the_defect_and_stop_in_a_perfect_crystal():
    perfect = bulk("Cu", "fcc", a=3.59, cubic=True) * (4, 4, 4)
    assert len(centres_farthest_point(perfect, 5.0, 4, 2.5, np.random.default_rng(0))) == 1
    atoms = defect_cell(rattle=0.0)
    centres = centres_farthest_point(atoms, 5.0, 2, 2.5, np.random.default_rng(0))
    # first centre: a neighbour of the di-vacancy (fewest neighbours, least average environment)
    i, _ = neighbor_list("ij", atoms, 2.8)
    coordination = np.bincount(i, minlength=len(atoms))
    assert coordination[centres[0]] < 12
    again = centres_farthest_point(atoms, 5.0, 2, 2.5, np.random.default_rng(0))
    assert centres == again


def test_default_margin_capped_and_explicit_margin_too_large_is_a_user_error():
    parent = defect_cell()
    geom = resolve_geometry(CutoutConfig(kind="box"), 128, 5.0, parent, "s")
    assert geom.core_radius == pytest.approx(0.5 * geom.radius)  # 2 x 5 + 1 Å does not fit in 128 atoms
    geom = resolve_geometry(CutoutConfig(kind="box"), 2000, 5.0, parent, "s")
    assert geom.radius - geom.core_radius == pytest.approx(11.0)  # it fits in 2000
    with pytest.raises(UserError, match="core_margin"):
        resolve_geometry(CutoutConfig(kind="cluster", core_margin=9.0), 128, 5.0, parent, "s")
    geom = resolve_geometry(CutoutConfig(kind="cluster", core_margin=4.0), 128, 5.0, parent, "s")
    assert 2.5 < geom.core_radius < 3.6


def test_row_weights_zero_for_untrusted_atoms_and_cutout_energy():
    whole = defect_cell(repeat=2)
    cut = whole.copy()
    cut.arrays[FORCE_WEIGHT] = np.zeros(len(cut))
    cut.arrays[FORCE_WEIGHT][[1, 3]] = 1.0
    cut.info["energy_weight"] = 0.0
    w = row_weight_factors([whole, cut])
    n = len(whole)
    assert w[0] == 1.0 and w[1] == 0.0
    forces_cut = w[2 + 3 * n:].reshape(-1, 3)
    assert np.all(forces_cut[[1, 3]] == 1.0) and forces_cut.sum() == 6.0
    assert np.all(w[2:2 + 3 * n] == 1.0)
    w_e, w_f = pacemaker_weights([whole, cut])
    assert w_e[0] == 1.0 and 0 < w_e[1] < 1e-3
    assert list(np.nonzero(w_f[1])[0]) == [1, 3]


def test_config_default_run_unchanged_and_bounds_with_max_atoms():
    default = OTFConfig()
    assert default.labeling.max_atoms is None
    # the default 32-atom cell and the derived wide cell (issue 28), each: itself, 8 rattled, 4 strained
    assert default.initial_data.n_rattled == 8 and len(default.initial_data.strains) == 4
    assert default.wide_cell() is not None
    slabs = 3 * 3  # (111)/(100)/(110) x 3 rattled copies (initial_data.surface_slabs, derived: on for EMT Cu)
    assert default.n_initial_structures() == 2 * (1 + 8 + 4) + slabs
    big = OTFConfig.model_validate({"labeling": {"max_atoms": 128, "cutouts": {"per_structure": 3}}})
    assert big.n_initial_structures() == 3 * (26 + slabs)  # an upper bound: every structure may be cut


def test_swarm_moves_only_the_core_and_keeps_the_trust_mask():
    parent = defect_cell()
    cut = cluster_cutout(parent, 60, CutoutGeometry("cluster", 6.0, 2.6, 2.6), 8.0)
    core = cut.arrays[FORCE_WEIGHT] > 0
    cfg = CandidatesConfig(n_candidates=6, mix={"rattle": 0.5, "md_burst": 0.0, "normal_modes": 0.5},
                           min_distance=1.8)
    swarm = cutout_swarm(cut, EMT(), cfg, np.random.default_rng(1))
    assert len(swarm) == 6
    assert {a.info["generator"] for a in swarm} == {"rattle", "normal_modes"}
    for cand in swarm:
        np.testing.assert_array_equal(cand.positions[~core], cut.positions[~core])
        assert np.abs(cand.positions[core] - cut.positions[core]).max() > 1e-3
        np.testing.assert_array_equal(cand.arrays[FORCE_WEIGHT], cut.arrays[FORCE_WEIGHT])
        assert cand.info["energy_weight"] == 0.0


def labelled(atoms, forces, energy=0.0):
    """A copy carrying these labels; the trust arrays/info of `atoms` go with it, others not."""
    atoms = atoms.copy()
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    return atoms


@pytest.mark.slow
def test_linear_fit_ignores_untrusted_forces_and_cutout_energies(tmp_path):
    """Non-core rows weigh zero in the design matrix: garbage there changes nothing."""
    from mlip_autopipec.components.base import PotentialFiles
    from mlip_autopipec.components.trainers.linear_ace import LinearAceTrainer
    from mlip_autopipec.domain_models.config import LinearAceTrainerConfig

    rng = np.random.default_rng(5)
    frames = []
    for k in range(6):
        atoms = bulk("Cu", "fcc", a=3.59, cubic=True) * (2, 2, 2)
        atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
        atoms.calc = EMT()
        lab = labelled(atoms, atoms.get_forces(), atoms.get_potential_energy())
        if k >= 3:  # three "cut-outs": half of the atoms trusted, energy not
            lab.arrays[FORCE_WEIGHT] = (np.arange(len(lab)) % 2 == 0).astype(float)
            lab.info["energy_weight"] = 0.0
        frames.append(lab)
    garbage = []
    for lab in frames:
        bad = lab.copy()
        forces = lab.get_forces().copy()
        energy = lab.get_potential_energy()
        if FORCE_WEIGHT in lab.arrays:
            forces[lab.arrays[FORCE_WEIGHT] == 0] += rng.normal(0, 3.0, forces[lab.arrays[FORCE_WEIGHT] == 0].shape)
            energy += 50.0
        garbage.append(labelled(bad, forces, energy))
    refs = {"Cu": 0.0}
    trainer = LinearAceTrainer(LinearAceTrainerConfig(basis={"number_of_functions_per_element": 30}))
    coeffs = []
    for name, data in (("clean", frames), ("garbage", garbage)):
        trainer.fit(data, tmp_path / name, refs, None, 0)
        from pyace import BBasisConfiguration

        coeffs.append(np.array(BBasisConfiguration(str(PotentialFiles.in_dir(tmp_path / name).yaml)).get_all_coeffs()))
    np.testing.assert_allclose(coeffs[0], coeffs[1], rtol=1e-6, atol=1e-9)
    # and the garbage would matter if it were trusted
    trusted = []
    for g in garbage:
        t = labelled(g, g.get_forces(), g.get_potential_energy())
        t.arrays.pop(FORCE_WEIGHT, None)
        t.info.pop("energy_weight", None)
        trusted.append(t)
    trainer.fit(trusted, tmp_path / "trusted", refs, None, 0)
    bad = np.array(BBasisConfiguration(str(PotentialFiles.in_dir(tmp_path / "trusted").yaml)).get_all_coeffs())
    assert np.abs(bad - coeffs[0]).max() > 1e-3


def test_cluster_passivation_hook_adds_untrained_atoms():
    parent = defect_cell()

    def cap(cluster, parent_atoms, centre):  # a stand-in for hydrogen capping of cut bonds
        from ase import Atoms

        return cluster + Atoms("H2", positions=cluster.positions[:2] + [0.0, 0.0, 1.0])

    geom = CutoutGeometry("cluster", 6.0, 2.6, 2.6)
    plain = cluster_cutout(parent, 60, geom, 8.0)
    capped = cluster_cutout(parent, 60, geom, 8.0, passivate=cap)
    assert len(capped) == len(plain) + 2
    assert list(capped.arrays[FORCE_WEIGHT][-2:]) == [0.0, 0.0]
    np.testing.assert_array_equal(capped.arrays[FORCE_WEIGHT][:-2], plain.arrays[FORCE_WEIGHT])
    assert not capped.pbc.any()


def test_frames_without_trust_keys_fit_exactly_as_before():
    from mlip_autopipec.core.label_weights import has_partial_trust, trusted_rows_by_species

    frames = [defect_cell(repeat=2), defect_cell(seed=1, repeat=2)]
    assert not has_partial_trust(frames)
    assert trusted_rows_by_species(frames, {"Cu": 0}) is None
    np.testing.assert_array_equal(row_weight_factors(frames), np.ones(2 + 3 * sum(len(a) for a in frames)))
