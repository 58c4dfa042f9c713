"""Starting structures from config specs, their validation, and the initial training set."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from mlip_autopipec.sampling.candidate_generator import min_interatomic_distance
from mlip_autopipec.core.errors import StructureError, UserError
from mlip_autopipec.sampling.structures import (
    build_structures,
    check_periodic_cell,
    initial_training_structures,
)
from mlip_autopipec.domain_models.config import BulkSpec, FileSpec, InitialDataConfig


def _rng(seed=0):
    return np.random.default_rng(seed)


def _build_file(tmp_path, name):
    return build_structures([FileSpec(path=name)], tmp_path, _rng())


# --------------------------------------------------------------------------------------------
# Bad input: every message names the file (or the spec) and the problem
# --------------------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(StructureError, match=r"nope\.extxyz.*not found"):
        _build_file(tmp_path, "nope.extxyz")


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_empty_file(tmp_path, content):
    (tmp_path / "empty.extxyz").write_text(content)
    with pytest.raises(StructureError, match=r"empty\.extxyz.*empty"):
        _build_file(tmp_path, "empty.extxyz")


@pytest.mark.parametrize(
    "name, content",
    [
        ("truncated.extxyz", '3\nLattice="5 0 0 0 5 0 0 0 5" pbc="T T T"\nCu 0 0 0\nCu 1 1\n'),
        ("garbage.cif", "this is not a crystal\n\x01\x02 nonsense\n"),
    ],
)
def test_corrupt_file(tmp_path, name, content):
    (tmp_path / name).write_text(content)
    with pytest.raises(StructureError, match=re.escape(name) + ".*cannot read") as info:
        _build_file(tmp_path, name)
    assert "\n" not in str(info.value)


def test_file_without_cell_is_a_cluster(tmp_path):
    (tmp_path / "molecule.xyz").write_text("2\nno lattice here\nCu 0 0 0\nCu 2.5 0 0\n")
    atoms = _build_file(tmp_path, "molecule.xyz")[0]
    assert not atoms.pbc.any() and atoms.cell.rank == 0


def test_periodic_structure_without_cell_is_refused():
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [2.5, 0, 0]], pbc=True)
    with pytest.raises(StructureError, match="no cell"):
        check_periodic_cell(atoms, "x.extxyz")


def test_slab_needs_a_vector_along_its_vacuum_axis():
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [1.3, 1.3, 1.8]], cell=[[2.6, 0, 0], [0, 2.6, 0], [0, 0, 0]],
                  pbc=[True, True, False])
    with pytest.raises(StructureError, match="full 3D cell"):
        check_periodic_cell(atoms, "slab.extxyz")


def test_degenerate_cell():
    atoms = Atoms("Cu2", positions=[[0, 0, 0], [1.3, 1.3, 0]], cell=[[2.6, 0, 0], [0, 2.6, 0], [2.6, 2.6, 0]],
                  pbc=True)
    with pytest.raises(StructureError, match="degenerate"):
        check_periodic_cell(atoms, "flat.extxyz")


def test_cell_without_pbc_stays_a_cluster():
    atoms = bulk("Cu", cubic=True)
    atoms.pbc = False
    assert not check_periodic_cell(atoms, "x").pbc.any()


def test_initial_set_strains_only_periodic_axes_and_rattles_clusters():
    from ase.build import fcc111
    from ase.cluster import Icosahedron

    from mlip_autopipec.domain_models.config import InitialDataConfig

    cfg = InitialDataConfig(n_rattled=2, strains=[-0.02, 0.03])
    slab = fcc111("Pt", size=(2, 2, 3), vacuum=7.0)
    cluster = Icosahedron("Cu", 2)
    frames = initial_training_structures([slab, cluster], cfg, np.random.default_rng(0))
    assert len(frames) == 2 * (1 + 2 + 2)
    strained = [f for f in frames if f.info["source"] == "initial:strained"]
    assert [f.info["structure_index"] for f in strained] == [0, 0]
    for f in strained:
        s = f.info["strain"]
        np.testing.assert_allclose(f.cell[:2], slab.cell[:2] * (1 + s))
        np.testing.assert_allclose(f.cell[2], slab.cell[2])  # the vacuum axis keeps its length
        assert list(f.pbc) == [True, True, False]
    # the Cu13 icosahedron's centre is close-packed: its strain slots hold fcc bulk cells and one
    # rattled slot an fcc(111) slab (one rattled copy stays)
    cluster_frames = [f for f in frames if f.info["structure_index"] == 1]
    assert [f.info["source"] for f in cluster_frames] == (
        ["initial:original", "initial:rattled"] + ["initial:companion"] * 3)
    assert [f.info["companion"] for f in cluster_frames[2:]] == ["bulk", "bulk", "fcc(111) slab"]
    assert [f.info["strain"] for f in cluster_frames[2:4]] == [-0.02, 0.03]
    assert [f.pbc.tolist() for f in cluster_frames] == (
        [[False] * 3] * 2 + [[True] * 3] * 2 + [[True, True, False]])
    assert all(set(f.get_chemical_symbols()) == {"Cu"} for f in cluster_frames)


def test_molecule_or_opted_out_cluster_gets_rattled_copies_in_every_slot():
    from ase.build import molecule
    from ase.cluster import Icosahedron

    from mlip_autopipec.domain_models.config import InitialDataConfig

    cfg = InitialDataConfig(n_rattled=2, strains=[-0.02, 0.03])
    opted_out = InitialDataConfig(n_rattled=2, strains=[-0.02, 0.03], cluster_companions=False)
    for atoms, c in ((molecule("CH4"), cfg), (Icosahedron("Cu", 2), opted_out)):
        frames = initial_training_structures([atoms], c, np.random.default_rng(0))
        assert [f.info["source"] for f in frames] == ["initial:original"] + ["initial:rattled"] * 4
        assert all(not f.pbc.any() for f in frames)


@pytest.mark.parametrize("overlap", ["duplicate", "image"])
def test_overlapping_atoms(tmp_path, overlap):
    atoms = bulk("Cu", "fcc", cubic=True)
    if overlap == "duplicate":
        atoms += Atoms("Cu", positions=[atoms.positions[1] + [0.1, 0.1, 0.0]])
    else:  # close only through the periodic boundary
        atoms += Atoms("Cu", positions=[[atoms.cell[0, 0] - 0.2, 0.0, 0.0]])
    write(tmp_path / "overlap.extxyz", atoms)
    with pytest.raises(StructureError, match=r"overlap\.extxyz.*apart"):
        _build_file(tmp_path, "overlap.extxyz")


@pytest.mark.parametrize("symbol", ["Xx", "X"])  # X is ASE's dummy element (number 0)
def test_unknown_element_in_file(tmp_path, symbol):
    (tmp_path / "xx.extxyz").write_text(
        '2\nLattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
        f"{symbol} 0 0 0\nCu 2 2 2\n"
    )
    with pytest.raises(StructureError, match=r"xx\.extxyz.*unknown chemical element"):
        _build_file(tmp_path, "xx.extxyz")


def test_unknown_element_in_bulk_spec():
    with pytest.raises(StructureError, match=r"structures\[1\].*unknown chemical element 'Xx'"):
        build_structures([BulkSpec(), BulkSpec(element="Xx", a=3.6)], ".", _rng())


def test_unknown_substituent_and_bad_fractions():
    with pytest.raises(StructureError, match="unknown chemical element 'Qq'"):
        build_structures([BulkSpec(substitutions={"Qq": 0.1})], ".", _rng())
    with pytest.raises(StructureError, match=r"\[0, 1\]"):
        build_structures([BulkSpec(substitutions={"Ni": 1.5})], ".", _rng())
    with pytest.raises(StructureError, match="sites"):
        build_structures([BulkSpec(substitutions={"Ni": 0.7, "Au": 0.6})], ".", _rng())


def test_bulk_build_failure_is_a_user_error():
    with pytest.raises(StructureError, match="lattice constant"):
        build_structures([BulkSpec(element="NaCl", crystal="rocksalt")], ".", _rng())


def test_errors_are_user_errors():
    assert issubclass(StructureError, UserError)


# --------------------------------------------------------------------------------------------
# Good input
# --------------------------------------------------------------------------------------------
def test_bulk_supercell_and_cell():
    (atoms,) = build_structures([BulkSpec(element="Cu", crystal="fcc", supercell=(2, 3, 1))], ".", _rng())
    ref = bulk("Cu", "fcc", cubic=True)
    assert len(atoms) == len(ref) * 6
    np.testing.assert_allclose(atoms.cell.lengths(), ref.cell.lengths() * [2, 3, 1])
    assert atoms.pbc.all() and atoms.calc is None


@pytest.mark.parametrize("subs", [{"Ni": 0.25}, {"Ni": 0.5, "Au": 0.1}, {"Ag": 0.001}])
def test_bulk_substitutions_composition(subs):
    spec = BulkSpec(element="Cu", supercell=(2, 2, 2), substitutions=subs)
    (atoms,) = build_structures([spec], ".", _rng(3))
    n = len(atoms)
    counts = Counter(atoms.get_chemical_symbols())
    expected = {el: max(1, round(f * n)) for el, f in subs.items()}
    for el, k in expected.items():
        assert counts[el] == k
    assert counts["Cu"] == n - sum(expected.values())


def test_bulk_substitutions_are_seeded():
    spec = BulkSpec(substitutions={"Ni": 0.5})
    a = build_structures([spec], ".", _rng(1))[0].get_chemical_symbols()
    b = build_structures([spec], ".", _rng(1))[0].get_chemical_symbols()
    c = build_structures([spec], ".", _rng(2))[0].get_chemical_symbols()
    assert a == b
    assert a != c


def test_file_spec_relative_to_base_dir_first_selected_frame(tmp_path):
    frames = [bulk("Cu", cubic=True), bulk("Ni", cubic=True) * (2, 1, 1), bulk("Al", cubic=True)]
    frames[0].calc = SinglePointCalculator(frames[0], energy=-1.0, forces=np.zeros((4, 3)))
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "frames.extxyz", frames)
    structures = build_structures(
        [FileSpec(path="sub/frames.extxyz"), FileSpec(path="sub/frames.extxyz", index="1:")], tmp_path, _rng()
    )
    assert [s.get_chemical_formula() for s in structures] == ["Cu4", "Ni8"]
    assert structures[0].calc is None  # labels in the file are not carried into the run
    assert [s.info["source"] for s in structures] == ["structures[0]", "structures[1]"]


def test_index_selecting_nothing(tmp_path):
    write(tmp_path / "one.extxyz", bulk("Cu", cubic=True))
    with pytest.raises(StructureError, match=r"one\.extxyz.*selects no structure"):
        build_structures([FileSpec(path="one.extxyz", index="5:")], tmp_path, _rng())


# --------------------------------------------------------------------------------------------
# Initial training set
# --------------------------------------------------------------------------------------------
def test_initial_training_set_composition():
    structures = build_structures([BulkSpec(), BulkSpec(element="Ni", supercell=(1, 1, 1))], ".", _rng())
    cfg = InitialDataConfig(n_rattled=3, rattle_stdev=0.05, strains=[-0.02, 0.02, 0.04])
    frames = initial_training_structures(structures, cfg, _rng())
    per_structure = 1 + cfg.n_rattled + len(cfg.strains)
    assert len(frames) == len(structures) * per_structure
    for k, s in enumerate(structures):
        mine = [f for f in frames if f.info["structure_index"] == k]
        kinds = Counter(f.info["source"] for f in mine)
        assert kinds == {"initial:original": 1, "initial:rattled": cfg.n_rattled,
                         "initial:strained": len(cfg.strains)}
        original = next(f for f in mine if f.info["source"] == "initial:original")
        np.testing.assert_array_equal(original.positions, s.positions)
        strained = [f for f in mine if f.info["source"] == "initial:strained"]
        assert [f.info["strain"] for f in strained] == cfg.strains
        for f in strained:
            np.testing.assert_allclose(f.cell.volume, s.cell.volume * (1 + f.info["strain"]) ** 3)
            scaled = s.positions * (1 + f.info["strain"])  # scale_atoms=True, then rattled
            assert 1e-4 < np.abs(f.positions - scaled).max() < 0.5
            if len(s) >= 32:  # atoms follow the cell: no systematic offset beyond rattle noise
                assert np.abs((f.positions - scaled).mean(axis=0)).max() < 0.03
        for f in mine:
            assert f.calc is None
            assert min_interatomic_distance(f) >= 1.5
            assert f.get_chemical_formula() == s.get_chemical_formula()
        positions = [f.positions.tobytes() + f.cell.array.tobytes() for f in mine]
        assert len(set(positions)) == len(positions)


def test_initial_training_set_is_seeded():
    structures = build_structures([BulkSpec()], ".", _rng())
    cfg = InitialDataConfig(n_rattled=2, strains=[0.01])
    a = initial_training_structures(structures, cfg, _rng(4))
    b = initial_training_structures(structures, cfg, _rng(4))
    c = initial_training_structures(structures, cfg, _rng(5))
    assert all(np.array_equal(x.positions, y.positions) for x, y in zip(a, b))
    assert not np.allclose(a[1].positions, c[1].positions)


def test_initial_min_distance_adapts_to_short_bonds():
    """A hydride with 1.2 Å bonds cannot satisfy a fixed 1.5 Å; the default adapts."""
    atoms = Atoms("PdH", positions=[[0, 0, 0], [1.2, 0, 0]], cell=[4.0, 4.0, 4.0], pbc=True)
    cfg = InitialDataConfig(n_rattled=4, rattle_stdev=0.05, strains=[-0.03])
    frames = initial_training_structures([atoms], cfg, _rng())
    assert len(frames) == 6
    assert min(min_interatomic_distance(f) for f in frames) < 1.5


def test_strain_collapsing_the_cell_is_rejected():
    structures = build_structures([BulkSpec()], ".", _rng())
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="greater than -1"):  # the config refuses it first
        InitialDataConfig(strains=[-1.0])
    unchecked = InitialDataConfig.model_construct(strains=[-1.0], n_rattled=1, rattle_stdev=0.05)
    with pytest.raises(StructureError, match="strains"):  # and the builder still guards itself
        initial_training_structures(structures, unchecked, _rng())
