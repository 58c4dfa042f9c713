"""Building the portfolio's starting structures (domain_models/portfolio_config.py says which).

Pure functions: a `PortfolioSpec` in, an `ase.Atoms` out, no randomness (the loop's seeded steps rattle
them later), so every job that rebuilds a structure gets the same one. Periodicity is part of what is
built: bulk, defects and strained cells are periodic in 3 directions and at least `min_width` wide
(2 x cutoff by default: no atom sees its own image twice); a slab is periodic in-plane only, with
`vacuum` Å on each side along z; a nanoparticle is periodic in no direction and has no cell.
"""

from __future__ import annotations

import logging

import numpy as np
from ase import Atoms

from ..domain_models.portfolio_config import PortfolioSpec

log = logging.getLogger(__name__)

BULK_PARTS = ("bulk", "liquid", "vacancy", "divacancy", "interstitial", "strained")


def periodic_widths(atoms: Atoms) -> np.ndarray:
    """Distance between opposite faces of the cell along each axis (Å): V / |a_j x a_k|."""
    cell = np.asarray(atoms.cell)
    volume = abs(np.linalg.det(cell))
    return np.array([volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)])


def repeats_for_width(atoms: Atoms, min_width: float, axes=(0, 1, 2)) -> tuple[int, int, int]:
    """Smallest repetition of `atoms` along `axes` whose widths reach `min_width`."""
    widths = periodic_widths(atoms)
    return tuple(int(np.ceil(min_width / widths[i] - 1e-9)) if i in axes else 1 for i in range(3))


def unit_cell(spec: PortfolioSpec) -> Atoms:
    """The conventional cell (cubic for fcc/bcc, orthorhombic 4-atom cell for hcp)."""
    from ase.build import bulk

    if spec.crystal == "hcp":
        return bulk(spec.element, "hcp", a=spec.a, covera=spec.covera, orthorhombic=True)
    return bulk(spec.element, spec.crystal, a=spec.a, cubic=True)


def bulk_supercell(spec: PortfolioSpec) -> Atoms:
    cell = unit_cell(spec)
    return cell * repeats_for_width(cell, spec.min_width)


def nearest_neighbour_distance(spec: PortfolioSpec) -> float:
    if spec.crystal == "fcc":
        return spec.a / np.sqrt(2)
    if spec.crystal == "bcc":
        return spec.a * np.sqrt(3) / 2
    return spec.a  # hcp with c/a near ideal


def vacancies(atoms: Atoms, n: int) -> Atoms:
    """Remove atom 0 and, for n = 2, its nearest neighbour (a divacancy)."""
    out = atoms.copy()
    if n == 1:
        del out[0]
        return out
    d = out.get_distances(0, range(1, len(out)), mic=True)
    del out[[0, 1 + int(np.argmin(d))]]
    return out


def nearest_distances(points: np.ndarray, positions: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest position, minimum image of a 3D-periodic cell.
    Exact for the orthogonal cells built here (cubic, orthorhombic; their strained copies are not
    passed in); vectorised, since ase.geometry.get_distances' general algorithm took seconds."""
    inv = np.linalg.inv(cell)
    df = (points @ inv)[:, None, :] - (positions @ inv)[None, :, :]
    df -= np.round(df)
    return np.linalg.norm(df @ cell, axis=2).min(axis=1)


def largest_hole(atoms: Atoms, unit: Atoms, grid: int = 12) -> np.ndarray:
    """Cartesian point of the first unit cell farthest from every atom (the octahedral site of fcc,
    the tetrahedral or octahedral one of bcc and hcp): the self-interstitial's site."""
    f = np.arange(grid) / grid  # an even grid holds the cell's half and quarter points
    frac = np.stack(np.meshgrid(f, f, f, indexing="ij"), -1).reshape(-1, 3)
    points = frac @ np.asarray(unit.cell)
    d = nearest_distances(points, atoms.positions, np.asarray(atoms.cell))
    return points[int(np.argmax(d))]


def interstitial(spec: PortfolioSpec, atoms: Atoms) -> Atoms:
    out = atoms.copy()
    out.append(spec.element)
    out.positions[-1] = largest_hole(atoms, unit_cell(spec))
    return out


def strained(atoms: Atoms, s: float) -> Atoms:
    """diag(1+s, 1+s/2, 1-s/2) plus a shear s/2 in xy: volume, tetragonal and shear strain at once."""
    deform = np.diag([1 + s, 1 + s / 2, 1 - s / 2])
    deform[0, 1] = s / 2
    out = atoms.copy()
    out.set_cell(np.asarray(atoms.cell) @ deform.T, scale_atoms=True)
    return out


def random_packing(atoms: Atoms, expansion: float, min_distance: float, seed: int = 0) -> Atoms:
    """The liquid's start: `atoms`' cell expanded by `expansion` in volume, its atoms placed at random
    (random sequential addition, seeded: the same structure every time) no closer than `min_distance`.
    A crystal heated far above melting stays a superheated solid for picoseconds; MD from a random
    packing is a liquid within a few hundred steps."""
    out = atoms.copy()
    out.set_cell(np.asarray(atoms.cell) * (1 + expansion) ** (1 / 3), scale_atoms=True)
    rng = np.random.default_rng(seed)
    cell = np.asarray(out.cell)
    placed: list[np.ndarray] = []
    while len(placed) < len(out):
        trial = rng.random((64, 3)) @ cell
        for p in trial:
            if not placed or nearest_distances(p[None], np.array(placed), cell)[0] >= min_distance:
                placed.append(p)
                if len(placed) == len(out):
                    break
    out.positions = np.array(placed)
    return out


SURFACE_BUILDERS = {
    "fcc": {"111": "fcc111", "100": "fcc100", "110": "fcc110"},
    "bcc": {"111": "bcc111", "100": "bcc100", "110": "bcc110"},
    "hcp": {"0001": "hcp0001", "10m10": "hcp10m10"},
}


def slab(spec: PortfolioSpec) -> Atoms:
    """A slab, in-plane at least `min_width` wide, `vacuum` Å each side along z (pbc T T F), with
    `adatoms` in hollow sites of the top face."""
    import ase.build

    build = getattr(ase.build, SURFACE_BUILDERS[spec.crystal][spec.facet])
    kw = {"c": spec.a * spec.covera} if spec.crystal == "hcp" else {}
    layers = spec.layers if spec.facet != "110" else int(np.ceil(1.5 * spec.layers))
    # orthogonal 111/0001 cells need an even number of rows along y: probe with 2 and keep it even
    probe = build(spec.element, size=(1, 2, layers), a=spec.a, vacuum=spec.vacuum, orthogonal=True, **kw)
    nx, ny, _ = repeats_for_width(probe, spec.min_width, axes=(0, 1))
    ny *= 2
    out = build(spec.element, size=(nx, ny, layers), a=spec.a, vacuum=spec.vacuum, orthogonal=True, **kw)
    out.pbc = (True, True, False)
    for k in range(spec.adatoms):
        out = add_adatom(out, spec, k)
    out.center(vacuum=spec.vacuum, axis=2)
    return out


def add_adatom(atoms: Atoms, spec: PortfolioSpec, k: int) -> Atoms:
    """One atom above the top layer, over the k-th site of the layer below it (a hollow site), raised
    until it is 0.95 nearest-neighbour distances from every atom."""
    z = atoms.positions[:, 2]
    levels = np.unique(np.round(z, 2))
    below = np.flatnonzero(np.isclose(np.round(z, 2), levels[-2]))
    below = below[np.argsort(atoms.positions[below, 0] + 1e-3 * atoms.positions[below, 1])]
    site = atoms.positions[below[(k * max(1, len(below) // 3)) % len(below)]]
    out = atoms.copy()
    out.append(spec.element)
    nn = nearest_neighbour_distance(spec)
    height = levels[-1]
    while True:  # from the top layer upwards in 0.05 Å steps: the lowest position not too close
        out.positions[-1] = [site[0], site[1], height]
        if out.get_distances(len(out) - 1, range(len(out) - 1), mic=True).min() >= 0.95 * nn:
            return out
        height += 0.05


def nanoparticle(spec: PortfolioSpec) -> Atoms:
    """A Mackay icosahedron (55 atoms for 3 shells) at the ground state's nearest-neighbour distance,
    without cell or periodicity."""
    from ase.cluster import Icosahedron

    out = Icosahedron(spec.element, noshells=spec.shells, latticeconstant=nearest_neighbour_distance(spec) * np.sqrt(2))
    out.pbc = False
    out.set_cell(np.zeros((3, 3)))
    out.positions -= out.positions.mean(axis=0)
    return out


def build(spec: PortfolioSpec) -> Atoms:
    """The structure of one portfolio spec; `info['portfolio']` names its kind."""
    if spec.part == "surface":
        atoms = slab(spec)
    elif spec.part == "nanoparticle":
        atoms = nanoparticle(spec)
    else:
        base = bulk_supercell(spec)
        atoms = {"bulk": lambda: base, "liquid": lambda: random_packing(base, spec.strain,
                                                                        0.75 * nearest_neighbour_distance(spec)),
                 "vacancy": lambda: vacancies(base, 1), "divacancy": lambda: vacancies(base, 2),
                 "interstitial": lambda: interstitial(spec, base), "strained": lambda: strained(base, spec.strain)
                 }[spec.part]()
    atoms.info["portfolio"] = spec.name
    return atoms


def describe(spec: PortfolioSpec, atoms: Atoms) -> str:
    """One log line: what was built and where its lattice constant came from."""
    pbc = "".join("T" if p else "F" for p in atoms.pbc)
    return (f"{spec.name}: {len(atoms)} atoms {atoms.get_chemical_formula()}, pbc {pbc}, {spec.crystal} "
            f"a = {spec.a:.4f} Å ({spec.a_source})")
