"""Cut-outs: small structures holding the local environment of one atom of a large structure.

An ACE atom's energy depends only on its neighbours within the cutoff, so an environment met in a
10^3-10^6-atom simulation can be labelled in a structure the oracle can afford. Around a centre
atom every atom within `radius` (the *sphere*) is copied unchanged; the *core* is the atoms within
`radius - core_margin` of the centre. Only core forces are trained (per-atom ``force_weight`` 1,
others 0, energy weight 0 in ``info``): a core atom's force then depends on nothing that was cut
away, neither in the oracle (its own locality) nor in ACE (the force on an atom depends on the
energies of neighbours within the cutoff, which depend on *their* neighbours: twice the cutoff).

Two kinds (`labeling.cutouts.kind`):

* ``box`` (default; metals, ionic and covalent crystals) - a periodic box holding the sphere. Its
  lattice vectors are the smallest fractions of the parent's cell vectors that are lattice
  translations of the parent and span the sphere, so in a crystal the box continues
  the lattice and only thermal noise and defect images meet at the box faces. Atoms outside the
  sphere closer than ``min_distance`` to another atom or image are removed, and the rest of the
  outside is relaxed by the current potential with the sphere fixed, so the boundary heals. No
  vacuum surface: a metal's electrons never see a cut.
* ``cluster`` (molecular systems; covalent ones with a ``passivate`` hook) - the sphere alone in
  vacuum, non-periodic. Exactly the parent's atoms, but a metal cluster's surface perturbs the
  electron density (and EMT/DFT forces) several Å inwards, so it needs a wider margin.

Centres: atoms with gamma > gamma_select, highest first, skipping atoms within ``cover_radius`` of
an earlier centre (their environment is already in that cut-out). The initial data has no potential
and so no gamma: centres are farthest-point sampled on a radial-distribution descriptor of each atom
(the atom least like the average first), so distinct kinds of site are covered; ties are broken by
a seeded permutation, so the choice is deterministic under the seed.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from ..core.errors import UserError

log = logging.getLogger(__name__)

from ..core.label_weights import ENERGY_WEIGHT, FORCE_WEIGHT  # noqa: E402,F401  (re-exported)
CUTOUT_INFO = ("cutout_kind", "cutout_centre", "cutout_parent_atoms", "cutout_core_radius")

_FRACTION_DENOMINATORS = range(2, 13)
_MATCH_TOLERANCE = 0.6  # Å; thermal displacements at ~1000 K are ~0.1-0.2 Å rms
_N_PROBES = 16
_MATCH_FRACTION = 0.8  # share of sphere atoms that must map onto parent atoms for a lattice translation


_WARNED: set = set()


@dataclass(frozen=True)
class CutoutGeometry:
    """Resolved sizes of one kind of cut-out (Å)."""

    kind: str
    radius: float
    core_radius: float
    cover_radius: float
    core_fraction: float | None = None  # set when the default margin was capped: core = fraction x radius


# --------------------------------------------------------------------------------------------
# Sizes
# --------------------------------------------------------------------------------------------
def number_density(atoms: Atoms) -> float:
    return len(atoms) / abs(atoms.get_volume())


def core_margin(cfg, ace_cutoff: float) -> float:
    """The configured margin, or 2 x cutoff + oracle buffer (see the module docstring)."""
    return cfg.core_margin if cfg.core_margin is not None else 2.0 * ace_cutoff + cfg.oracle_buffer


def auto_radius(kind: str, max_atoms: int, density: float) -> float:
    """Largest sphere (cluster) or sphere-holding cube (box) with about `max_atoms` atoms."""
    if kind == "cluster":
        return (3.0 * max_atoms / (4.0 * np.pi * density)) ** (1.0 / 3.0)
    return 0.5 * (max_atoms / density) ** (1.0 / 3.0)


def resolve_geometry(cfg, max_atoms: int, ace_cutoff: float, parent: Atoms, source: str) -> CutoutGeometry:
    """Sizes for cut-outs of `parent`. The default margin (2 x cutoff + oracle buffer) is capped at
    half the radius when max_atoms cannot afford it (logged): a cut-out's label is the oracle's exact
    answer for the cut-out itself, so a narrower margin does not make labels wrong, only less like
    the parent near the cut, and training the centre atom alone leaves the fit starved of rows
    (benchmarks/RESULTS.md, "Cut-outs": 18.6 meV/Å with the centre atom only, 5.5 with half the
    sphere). An explicit margin larger than the radius is a UserError (before any oracle work)."""
    radius = cfg.radius if cfg.radius is not None else auto_radius(cfg.kind, max_atoms, number_density(parent))
    margin = core_margin(cfg, ace_cutoff)
    if radius - margin < 0 and cfg.core_margin is None:
        if (cfg.kind, max_atoms) not in _WARNED:  # once per process, not once per frame
            _WARNED.add((cfg.kind, max_atoms))
            log.warning("%s: a %s cut-out of at most %d atoms has radius %.2f Å < 2 x cutoff + oracle_buffer = "
                        "%.2f Å: the core is the inner half of the sphere (set labeling.cutouts.core_margin to "
                        "choose)", source, cfg.kind, max_atoms, radius, margin)
        return CutoutGeometry(cfg.kind, float(radius), 0.5 * radius, float(max(0.5 * radius, 0.5 * ace_cutoff)),
                              core_fraction=0.5)
    core = radius - margin
    if core < 0:
        raise UserError(
            f"{source}: labeling.cutouts: a {cfg.kind} cut-out of at most {max_atoms} atoms has radius "
            f"{radius:.2f} Å, less than labeling.cutouts.core_margin {margin:.2f} Å, so no atom's force could be "
            f"trained; raise labeling.max_atoms, or set labeling.cutouts.core_margin below {radius:.2f} "
            f"(the oracle's locality: ~4 Å for EMT, more for DFT)"
        )
    return CutoutGeometry(cfg.kind, float(radius), float(core), float(max(core, 0.5 * ace_cutoff)))


# --------------------------------------------------------------------------------------------
# Centres
# --------------------------------------------------------------------------------------------
def displacements(atoms: Atoms, centre: int) -> np.ndarray:
    """Minimum-image vectors (N, 3) from atom `centre` to every atom."""
    from ase.geometry import find_mic

    d = atoms.positions - atoms.positions[centre]
    if np.any(atoms.pbc):
        d, _ = find_mic(d, atoms.cell, atoms.pbc)
    return d


def _covered(atoms: Atoms, i: int, chosen: list[int], cover_radius: float) -> bool:
    return any(np.linalg.norm(displacements(atoms, c)[i]) <= cover_radius for c in chosen)


def centres_from_gamma(atoms: Atoms, gamma: np.ndarray, gamma_select: float, n_max: int,
                       cover_radius: float) -> list[int]:
    """Atoms with gamma > gamma_select, highest first, none within cover_radius of an earlier one.
    If no atom exceeds gamma_select (e.g. an extrapolative frame kept for another reason), the
    single highest-gamma atom."""
    order = [int(i) for i in np.argsort(-gamma, kind="stable") if gamma[i] > gamma_select]
    if not order:
        order = [int(np.argmax(gamma))]
    chosen: list[int] = []
    for i in order:
        if len(chosen) >= n_max:
            break
        if not _covered(atoms, i, chosen, cover_radius):
            chosen.append(i)
    return chosen


def radial_descriptor(atoms: Atoms, cutoff: float, width: float = 0.15, bin_width: float = 0.1) -> np.ndarray:
    """Per-atom Gaussian-smeared histogram of neighbour distances up to `cutoff` (N, n_bins):
    coordination shells and their distortions, with no potential needed."""
    i, d = neighbor_list("id", atoms, cutoff)
    centres = np.arange(0.5 * bin_width, cutoff, bin_width)
    out = np.zeros((len(atoms), centres.size))
    contrib = np.exp(-0.5 * ((d[:, None] - centres[None, :]) / width) ** 2)
    np.add.at(out, i, contrib)
    return out


def centres_farthest_point(atoms: Atoms, cutoff: float, n_max: int, cover_radius: float,
                           rng: np.random.Generator, min_novelty: float = 1e-3) -> list[int]:
    """Farthest-point sampling of atoms in descriptor space (see module docstring). Stops early when
    every remaining environment is within `min_novelty` (relative) of a chosen one, e.g. after one
    centre in a perfect crystal."""
    desc = radial_descriptor(atoms, cutoff)
    perm = rng.permutation(len(atoms))  # seeded tie-breaking
    scale = max(float(np.linalg.norm(desc, axis=1).max()), 1e-12)
    dist = np.linalg.norm(desc - desc.mean(axis=0), axis=1)
    chosen: list[int] = []
    while len(chosen) < n_max:
        best, best_val = None, -1.0
        for i in perm[np.argsort(-dist[perm], kind="stable")]:
            if dist[i] <= best_val:
                break
            if not _covered(atoms, int(i), chosen, cover_radius):
                best, best_val = int(i), float(dist[i])
                break
        if best is None or (chosen and best_val < min_novelty * scale):
            break
        chosen.append(best)
        dist = np.minimum(dist, np.linalg.norm(desc - desc[best], axis=1))
    return chosen


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------
def _base(parent: Atoms, sel: np.ndarray, positions: np.ndarray) -> Atoms:
    cut = Atoms(numbers=parent.numbers[sel], positions=positions, masses=parent.get_masses()[sel])
    for key in ("tags", "initial_magmoms", "initial_charges"):
        if key in parent.arrays:
            cut.arrays[key] = parent.arrays[key][sel].copy()
    return cut


def _mark(cut: Atoms, dist: np.ndarray, geom: CutoutGeometry, centre: int, parent: Atoms) -> Atoms:
    cut.arrays[FORCE_WEIGHT] = (dist <= geom.core_radius + 1e-9).astype(float)
    cut.info[ENERGY_WEIGHT] = 0.0
    cut.info["cutout_kind"] = geom.kind
    cut.info["cutout_centre"] = int(centre)
    cut.info["cutout_parent_atoms"] = len(parent)
    cut.info["cutout_core_radius"] = round(geom.core_radius, 4)
    return cut


def cluster_cutout(parent: Atoms, centre: int, geom: CutoutGeometry, vacuum: float,
                   passivate=None) -> Atoms:
    """The sphere alone, non-periodic, centred in a cell with `vacuum` around it."""
    d = displacements(parent, centre)
    dist = np.linalg.norm(d, axis=1)
    sel = dist <= geom.radius
    side = 2.0 * geom.radius + vacuum
    cut = _base(parent, sel, d[sel] + 0.5 * side)
    cut.cell = np.eye(3) * side
    cut.pbc = False
    cut = _mark(cut, dist[sel], geom, centre, parent)
    if passivate is not None:
        n = len(cut)
        cut = passivate(cut, parent, centre)
        if len(cut) > n:
            cut.arrays[FORCE_WEIGHT][n:] = 0.0
    return cut


def _plane_heights(cell: np.ndarray) -> np.ndarray:
    """Distance between opposite faces of the cell along each lattice vector."""
    vol = abs(np.linalg.det(cell))
    return np.array([vol / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3])) for i in range(3)])


def _is_lattice_translation(parent: Atoms, probe: np.ndarray, t: np.ndarray) -> bool:
    """Do most `probe` atoms, shifted by `t`, land on an atom of the parent (periodic images too)?"""
    from ase.geometry import find_mic

    diff = parent.positions[None, :, :] - (parent.positions[probe] + t)[:, None, :]
    d, lengths = find_mic(diff.reshape(-1, 3), parent.cell, parent.pbc)
    nearest = lengths.reshape(len(probe), len(parent)).min(axis=1)
    return bool(np.sum(nearest < _MATCH_TOLERANCE) >= _MATCH_FRACTION * len(probe))


_BOX_CACHE: dict = {}


def box_cell(parent: Atoms, centre: int, radius: float, min_distance: float = 1.5) -> tuple[np.ndarray, bool]:
    """Box vectors f_i * a_i spanning a sphere of `radius`; f_i the smallest k/n < 1 (n <= 12) that is a
    lattice translation of the parent (most atoms map onto atoms); if none is, 2 radius + min_distance
    along the vector, so the sphere's atoms never meet their own images. Returns (cell, lattice_matched).
    Independent of `centre`; cached per parent cell, atom count and radius (the frames of one
    NVT run share their cell and lattice)."""
    key = (np.asarray(parent.cell).round(6).tobytes(), len(parent), round(float(radius), 6), min_distance)
    if key not in _BOX_CACHE:
        _BOX_CACHE[key] = _box_cell(parent, radius, min_distance)
    cell, matched = _BOX_CACHE[key]
    return cell.copy(), matched


def _box_cell(parent: Atoms, radius: float, min_distance: float) -> tuple[np.ndarray, bool]:
    cell = np.asarray(parent.cell)
    heights = _plane_heights(cell)
    # probes spread over the whole parent: a defect at the centre must not veto its lattice
    probe = np.unique(np.linspace(0, len(parent) - 1, min(len(parent), _N_PROBES)).astype(int))
    # k < n: the whole parent vector always "matches" but would make the box the parent itself
    fractions = sorted({k / n for n in _FRACTION_DENOMINATORS for k in range(1, n)})
    out, matched = [], True
    for i in range(3):
        need = 2.0 * radius / heights[i]
        if need >= 1.0:  # the parent itself is the smallest periodic box along this vector
            out.append(cell[i])
            continue
        for f in fractions:
            if f + 1e-9 >= need and _is_lattice_translation(parent, probe, f * cell[i]):
                out.append(f * cell[i])
                break
        else:
            out.append(min(1.0, need + min_distance / heights[i]) * cell[i])
            matched = False
    return np.array(out), matched


def _remove_overlaps(cut: Atoms, dist: np.ndarray, min_distance: float) -> np.ndarray:
    """Indices to keep so that no two atoms (images included) are closer than `min_distance`:
    of each close pair the one farther from the centre goes (atoms of the sphere only meet such a
    pair through a face, e.g. the image of a defect)."""
    i, j = neighbor_list("ij", cut, min_distance)
    keep = np.ones(len(cut), dtype=bool)
    for a, b in zip(i, j):
        if a >= b or not (keep[a] and keep[b]):
            continue
        keep[a if dist[a] > dist[b] else b] = False
    return np.where(keep)[0]


def box_cutout(parent: Atoms, centre: int, geom: CutoutGeometry, min_distance: float, calculator=None,
               relax_steps: int = 0, relax_fmax: float = 0.05) -> Atoms:
    """A periodic box holding the sphere (see module docstring); relaxed outside the sphere if a
    calculator is given."""
    cell, matched = box_cell(parent, centre, geom.radius, min_distance)
    d = displacements(parent, centre)
    frac = d @ np.linalg.inv(cell)
    sel = np.all((frac >= -0.5) & (frac < 0.5), axis=1)
    dist_all = np.linalg.norm(d, axis=1)
    sel |= dist_all <= geom.radius  # a sheared cell may clip the sphere: never drop its atoms
    cut = _base(parent, sel, d[sel] + 0.5 * cell.sum(axis=0))
    cut.cell = cell
    cut.pbc = True
    dist = dist_all[sel]
    in_sphere = dist <= geom.radius
    keep = _remove_overlaps(cut, dist, min_distance)
    cut, dist, in_sphere = cut[keep], dist[keep], in_sphere[keep]
    cut.wrap()
    cut = _mark(cut, dist, geom, centre, parent)
    cut.info["cutout_lattice_matched"] = bool(matched)
    if calculator is not None and relax_steps > 0 and not in_sphere.all():
        heal(cut, in_sphere, calculator, relax_steps, relax_fmax)
    return cut


def heal(cut: Atoms, fixed: np.ndarray, calculator, steps: int, fmax: float) -> None:
    """Relax the atoms outside `fixed` in place (FIRE), then drop the constraint and calculator."""
    from ase.constraints import FixAtoms
    from ase.optimize import FIRE

    cut.set_constraint(FixAtoms(indices=np.where(fixed)[0]))
    cut.calc = calculator
    FIRE(cut, logfile=None).run(fmax=fmax, steps=steps)
    cut.calc = None
    cut.set_constraint()
    cut.wrap()


def load_passivation(spec: str | None):
    """The `module:function` hook of labeling.cutouts.passivate, or None."""
    if not spec:
        return None
    module, _, func = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError, ValueError) as exc:
        raise UserError(f"labeling.cutouts.passivate: cannot load '{spec}' ({exc}); give 'module:function' "
                        "of an importable module") from None


def make_cutout(parent: Atoms, centre: int, geom: CutoutGeometry, cfg, calculator=None) -> Atoms:
    if geom.kind == "cluster":
        return cluster_cutout(parent, centre, geom, cfg.vacuum, load_passivation(cfg.passivate))
    return box_cutout(parent, centre, geom, cfg.min_distance, calculator, cfg.relax_steps, cfg.relax_fmax)


def fitted_cutout(parent: Atoms, centre: int, geom: CutoutGeometry, cfg, max_atoms: int,
                  calculator=None) -> Atoms:
    """The cut-out around `centre`, its sphere shrunk 0.25 Å at a time (core margin kept) until it has
    at most max_atoms atoms: a lattice-matched box, or a dense region, can hold more atoms than
    the average density promised. The box is healed only once its size is final."""
    radius = geom.radius
    margin = geom.radius - geom.core_radius
    centre_only = geom.core_radius == 0.0  # an explicit margin equal to the radius
    while True:
        if geom.core_fraction is not None:
            core = geom.core_fraction * radius
        else:
            core = 0.0 if centre_only else radius - margin
        trial = CutoutGeometry(geom.kind, radius, core, geom.cover_radius, geom.core_fraction)
        cut = make_cutout(parent, centre, trial, cfg)
        if len(cut) <= max_atoms:
            break
        radius -= 0.25
        if radius <= 0 or (geom.core_fraction is None and not centre_only and radius - margin < 0):
            raise UserError(f"labeling.cutouts: no {geom.kind} cut-out of {parent.get_chemical_formula()} with a "
                            f"core fits in labeling.max_atoms={max_atoms}; raise max_atoms or lower core_margin")
    if calculator is not None and geom.kind == "box" and cfg.relax_steps > 0:
        cut = make_cutout(parent, centre, trial, cfg, calculator)
    return cut


def check_cell_holds(parent: Atoms, geom: CutoutGeometry, source: str) -> None:
    """The sphere must fit in the parent's periodic cell without meeting its own images."""
    if np.any(parent.pbc) and 2.0 * geom.radius >= _plane_heights(np.asarray(parent.cell)).min():
        raise UserError(f"{source}: a cut-out sphere of radius {geom.radius:.2f} Å does not fit in the cell "
                        f"({len(parent)} atoms); raise labeling.max_atoms above {len(parent)} to label it whole")
