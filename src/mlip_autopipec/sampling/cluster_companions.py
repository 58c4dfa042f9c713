"""Bulk and surface companions of a nanoparticle: the environments its larger relatives have.

A potential trained on one small cluster (say a Cu55 icosahedron) is asked about larger ones: Cu147,
cuboctahedra, decahedra. Their interiors are bulk-like out to the cutoff and their facets are wide
flat (111)/(100) terraces; a 55-atom cluster has neither (every atom sees the surface within 5 Å),
and exploring it at any temperature never makes them. Measured on the cu_cluster example (EMT, held-out
MD of larger clusters): the Cu147 icosahedron's interior atoms were extrapolated (γ up to 4.9) and
carried most of its 19 meV/Å force error; labelling a few small periodic cells of the same element at
the cluster's own bond length — one bulk cell per configured strain and one slab per low-index facet
type — took the energies of every larger cluster tried (Cu79 … Cu309, 300–800 K) from 27–100 to 4–7
meV/atom and their forces from 12–19 to 10–18 meV/Å. What remained was the first shell around the centre
of the Cu147 icosahedron (half its squared force error, 46 meV/Å): surface stress compresses a larger
particle's core, there by 3–7 %, beyond what Cu55 or the strained bulk show. Copies of the cluster
scaled about its centroid by twice each compressive strain (−3 %, −6 % by default) supply that
environment. Clusters grown by adding atoms at hollow sites made things worse (their greedy shapes
are far from any real particle), and expanded copies did not help.

What the cluster is made of decides the lattice, from its own geometry (no element table):

* a close-packed core — some atom with 12 neighbours within ``1.1 x`` the nearest-neighbour distance
  (fcc cuboctahedral or icosahedral, as in every metal nanoparticle of that kind): fcc, with the
  (111) and (100) facets of fcc particles;
* a body-centred core — 8 neighbours within 1.1 x and 14 within 1.2 x (the second shell of bcc sits at
  1.155 x): bcc, with its (110) and (100) facets;
* anything else (molecules, covalent or amorphous clusters): no companions, since there is no bulk
  phase to infer; their initial set stays rattled copies.

The lattice constant puts the nearest neighbours at the cluster's median nearest-neighbour distance;
an alloy cluster's companions are decorated at random with its composition. The cells are small
(32-atom bulk, 16-atom slabs) so a DFT oracle pays little for them next to the cluster itself.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from ase import Atoms
from ase.build import bcc100, bcc110, bulk, fcc100, fcc111
from ase.neighborlist import neighbor_list

CLOSE_SHELL = 1.1  # x nearest-neighbour distance: fcc/icosahedral first shell (12), bcc first shell (8)
BCC_SECOND_SHELL = 1.2  # x nearest-neighbour distance: bcc first + second shell (8 + 6 = 14)
SLAB_LAYERS = 4
SLAB_VACUUM = 6.0  # Å on each side: a 12 Å gap, wider than any ACE cutoff plus the vacuum margin
COMPRESSION_FACTOR = 2.0  # compressed copies reach twice the largest compressive strain (-6 % by default)
_SEARCH = 8.0  # Å: neighbour search radius, more than any nearest-neighbour distance of a condensed cluster


def nearest_neighbour_distance(atoms: Atoms) -> float:
    """Median over atoms of each atom's distance to its nearest neighbour (robust to a few
    stretched surface bonds)."""
    i, d = neighbor_list("id", atoms, _SEARCH)
    nearest = np.full(len(atoms), np.inf)
    np.minimum.at(nearest, i, d)
    return float(np.median(nearest[np.isfinite(nearest)])) if np.isfinite(nearest).any() else float("nan")


def core_lattice(atoms: Atoms) -> str | None:
    """'fcc', 'bcc' or None: the bulk phase the cluster's most coordinated atom belongs to."""
    if len(atoms) < 2:
        return None
    dnn = nearest_neighbour_distance(atoms)
    if not np.isfinite(dnn):
        return None
    i, d = neighbor_list("id", atoms, BCC_SECOND_SHELL * dnn + 1e-6)
    first = np.bincount(i[d < CLOSE_SHELL * dnn], minlength=len(atoms))
    both = np.bincount(i, minlength=len(atoms))
    if first.max() >= 12:
        return "fcc"
    if np.any((first == 8) & (both == 14)):
        return "bcc"
    return None


def _builders(lattice: str, a: float) -> tuple[Callable[[], Atoms], list[Callable[[], Atoms]]]:
    """(bulk cell, [slabs]) builders of one element-agnostic lattice with constant ``a``."""
    if lattice == "fcc":
        return (lambda: bulk("X", "fcc", a=a, cubic=True) * (2, 2, 2),
                [lambda: fcc111("X", (2, 2, SLAB_LAYERS), a=a, vacuum=SLAB_VACUUM),
                 lambda: fcc100("X", (2, 2, SLAB_LAYERS), a=a, vacuum=SLAB_VACUUM)])
    return (lambda: bulk("X", "bcc", a=a, cubic=True) * (2, 2, 2),
            [lambda: bcc110("X", (2, 2, SLAB_LAYERS), a=a, vacuum=SLAB_VACUUM),
             lambda: bcc100("X", (2, 2, SLAB_LAYERS), a=a, vacuum=SLAB_VACUUM)])


def _decorate(template: Atoms, symbols: list[str], rng: np.random.Generator) -> Atoms:
    """The template's sites filled with the cluster's composition (as close as the site count allows,
    every element at least once when there are sites enough), in random order."""
    elements, counts = np.unique(symbols, return_counts=True)
    n = len(template)
    share = counts / counts.sum() * n
    take = np.floor(share).astype(int)
    take[take == 0] = 1 if len(elements) <= n else 0
    while take.sum() < n:  # largest remainders first
        take[int(np.argmax(share - take))] += 1
    while take.sum() > n:
        take[int(np.argmax(take))] -= 1
    out = template.copy()
    out.set_chemical_symbols(list(rng.permutation(np.repeat(elements, take))))
    return out


def compressed_copies(cluster: Atoms, strains: list[float]) -> list[Atoms]:
    """The cluster scaled about its centroid by ``1 + 2 x strain`` for each negative strain: the
    cores of larger particles are compressed by their surface stress (module docstring)."""
    out = []
    for strain in sorted(s for s in strains if s < 0):
        copy = cluster.copy()
        centre = copy.positions.mean(axis=0)
        copy.positions = centre + (copy.positions - centre) * (1.0 + COMPRESSION_FACTOR * strain)
        copy.info.update(companion="compressed cluster", strain=float(COMPRESSION_FACTOR * strain))
        out.append(copy)
    return out


def companions(cluster: Atoms, strains: list[float], n_more: int, rng: np.random.Generator) -> list[Atoms]:
    """One bulk cell per strain (lattice scaled by 1 + strain), then up to ``n_more`` of: one unstrained
    slab per facet type, then the compressed copies of the cluster; [] when the cluster has no
    close-packed or bcc core (module docstring). Each carries ``info['companion']`` (what it is) and
    ``info['strain']`` where one applies."""
    lattice = core_lattice(cluster)
    if lattice is None:
        return []
    dnn = nearest_neighbour_distance(cluster)
    a = dnn * (np.sqrt(2.0) if lattice == "fcc" else 2.0 / np.sqrt(3.0))
    symbols = cluster.get_chemical_symbols()
    out = []
    for strain in strains:
        build_bulk, _ = _builders(lattice, a * (1.0 + strain))
        cell = _decorate(build_bulk(), symbols, rng)
        cell.info.update(companion="bulk", strain=float(strain))
        out.append(cell)
    more = []
    _, slabs = _builders(lattice, a)
    facets = ("111", "100") if lattice == "fcc" else ("110", "100")
    for build, facet in zip(slabs, facets):
        slab = _decorate(build(), symbols, rng)
        slab.info["companion"] = f"{lattice}({facet}) slab"
        more.append(slab)
    more.extend(compressed_copies(cluster, strains))
    return out + more[: max(0, n_more)]
