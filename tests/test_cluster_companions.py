"""Bulk and slab companions of a cluster: the lattice comes from the cluster's own coordination,
the bond length from its nearest-neighbour distance, the composition from its atoms."""

import numpy as np
from ase.build import bulk, molecule
from ase.cluster import Decahedron, Icosahedron
from ase.neighborlist import neighbor_list

from mlip_autopipec.sampling.cluster_companions import (
    companions,
    compressed_copies,
    core_lattice,
    nearest_neighbour_distance,
)
from mlip_autopipec.core.periodicity import DEFAULT_VACUUM_MARGIN, check_vacuum


def _bcc_cluster():
    fe = bulk("Fe", "bcc", a=2.87, cubic=True).repeat(3)
    fe.pbc = False
    fe.cell = None
    return fe


def test_lattice_from_the_clusters_core():
    assert core_lattice(Icosahedron("Cu", 2)) == "fcc"  # one 12-coordinated centre suffices
    assert core_lattice(Decahedron("Pt", 3, 2, 1)) == "fcc"
    assert core_lattice(_bcc_cluster()) == "bcc"
    assert core_lattice(molecule("CH4")) is None
    assert core_lattice(molecule("C60")) is None
    assert companions(molecule("H2O"), [0.0], 2, np.random.default_rng(0)) == []


def test_bulk_cells_have_the_clusters_bond_length_times_each_strain():
    cluster = Icosahedron("Ag", 3)
    dnn = nearest_neighbour_distance(cluster)
    assert abs(dnn - 4.09 / np.sqrt(2)) < 0.01  # ASE builds it at Ag's lattice constant
    out = companions(cluster, [-0.03, 0.02], 2, np.random.default_rng(1))
    assert [a.info["companion"] for a in out] == ["bulk", "bulk", "fcc(111) slab", "fcc(100) slab"]
    for cell, strain in zip(out[:2], (-0.03, 0.02)):
        assert cell.pbc.all() and cell.info["strain"] == strain
        i, d = neighbor_list("id", cell, 3.5)
        assert np.bincount(i).tolist() == [12] * len(cell)  # fcc: 12 nearest neighbours each
        np.testing.assert_allclose(d.min(), dnn * (1 + strain), rtol=1e-9)
    assert [a.info["companion"] for a in companions(cluster, [-0.03, 0.02], 3, np.random.default_rng(1))] == [
        "bulk", "bulk", "fcc(111) slab", "fcc(100) slab", "compressed cluster"]
    for slab in out[2:]:
        assert slab.pbc.tolist() == [True, True, False]
        np.testing.assert_allclose(neighbor_list("d", slab, 3.5).min(), dnn, rtol=1e-9)
        check_vacuum(slab, 8.0, DEFAULT_VACUUM_MARGIN, "companion")  # images apart even for an 8 Å cutoff


def test_bcc_companions_and_slab_count():
    out = companions(_bcc_cluster(), [0.0], 1, np.random.default_rng(0))
    assert [a.info["companion"] for a in out] == ["bulk", "bcc(110) slab"]
    i, d = neighbor_list("id", out[0], 2.6)
    assert np.bincount(i).tolist() == [8] * len(out[0])
    np.testing.assert_allclose(d.min(), 2.87 * np.sqrt(3) / 2, rtol=1e-9)


def test_alloy_companions_follow_the_clusters_composition():
    cluster = Icosahedron("Cu", 3)  # 55 atoms
    cluster.symbols[:11] = "Ni"  # 20 % Ni
    cluster.symbols[11:12] = "Pd"  # one Pd: still present in each companion
    out = companions(cluster, [0.0, 0.01], 2, np.random.default_rng(3))
    bulk_a, bulk_b, slab, _ = out
    assert bulk_a.get_chemical_formula() == "Cu25Ni6Pd"  # 32 sites: 25.0 / 6.4 / 0.6 -> 25 / 6 / 1
    assert slab.get_chemical_formula() == "Cu12Ni3Pd"
    assert bulk_a.get_chemical_symbols() != bulk_b.get_chemical_symbols()  # decorated at random


def test_compressed_copies_scale_the_cluster_about_its_centroid_by_twice_each_compressive_strain():
    cluster = Icosahedron("Cu", 3)
    cluster.positions += [1.0, -2.0, 0.5]  # off the origin: scaling is about the centroid
    out = compressed_copies(cluster, [0.03, -0.015, -0.03])
    assert [a.info["strain"] for a in out] == [-0.06, -0.03]
    centre = cluster.positions.mean(axis=0)
    for copy, factor in zip(out, (0.94, 0.97)):
        np.testing.assert_allclose(copy.positions - centre, factor * (cluster.positions - centre), atol=1e-12)
        assert copy.get_chemical_symbols() == cluster.get_chemical_symbols() and not copy.pbc.any()
