"""Starting structures (from config specs) and the initial training set built around them.

Bad input is caught here, before any expensive step: every problem raises a ``StructureError`` whose
message names the file (or the spec) and the fix, because a corrupt POSCAR discovered inside a
cluster job is much harder to diagnose.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from ase import Atoms

from .candidate_generator import closest_pair, min_interatomic_distance, rattle, strain_matrix, strip_results
from .cluster_companions import companions
from ..core.errors import StructureError
from ..core.periodicity import is_cluster

if TYPE_CHECKING:  # pragma: no cover
    from ..domain_models.config import BulkSpec, FileSpec, InitialDataConfig, PortfolioSpec

log = logging.getLogger(__name__)

OVERLAP_DISTANCE = 0.5  # Å; closer atoms are duplicates or a units/cell mistake, never physics
DEFAULT_MIN_DISTANCE = 1.5  # Å; rattled initial structures keep atoms at least this far apart...
MIN_DISTANCE_FRACTION = 0.8  # ...or this fraction of the structure's own shortest distance if smaller


def default_min_distance(atoms: Atoms, scale: float = 1.0) -> float:
    """How close rattled copies of `atoms` (its lattice scaled by `scale`) may bring two atoms:
    DEFAULT_MIN_DISTANCE, or less for a structure whose own bonds are shorter (hydrides, oxides)."""
    return min(DEFAULT_MIN_DISTANCE, MIN_DISTANCE_FRACTION * min_interatomic_distance(atoms) * scale)


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------
def check_periodic_cell(atoms: Atoms, source: str) -> Atoms:
    """Check the cell against the structure's periodicity (its ``pbc``); returns ``atoms``.

    Periodicity comes from the structure: bulk (pbc T T T), slab (two periodic axes), wire (one) or
    a cluster/molecule (none), which needs no cell at all (e.g. a plain .xyz). Every periodic axis
    needs a non-zero lattice vector, and a slab or wire a full-rank cell whose vacuum spans the
    non-periodic axes (its width is checked against the cutoff in preflight).
    """
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if not pbc.any():
        return atoms  # cluster or molecule: the cell, if any, plays no role
    cell = np.asarray(atoms.cell)
    lengths = np.linalg.norm(cell, axis=1)
    if not np.any(cell):
        raise StructureError(
            f"{source}: the structure is periodic (pbc {_flags(pbc)}) but has no cell (all lattice vectors "
            "are zero): give the lattice (extended XYZ Lattice=\"...\", CIF, POSCAR), or set pbc=F F F for "
            "a cluster or molecule"
        )
    missing = [("abc"[k]) for k in range(3) if pbc[k] and lengths[k] == 0]
    if missing:
        raise StructureError(
            f"{source}: periodic along {', '.join(missing)} (pbc {_flags(pbc)}) but that lattice vector is zero"
        )
    volume = abs(np.linalg.det(cell))
    if volume < 1e-6 * max(lengths.max(), 1.0) ** 3:
        if pbc.all():
            raise StructureError(
                f"{source}: the cell is degenerate (volume {volume:.3g} Å^3): all three lattice vectors "
                "must be non-zero and linearly independent"
            )
        raise StructureError(
            f"{source}: a structure periodic along only some axes (pbc {_flags(pbc)}) needs a full 3D cell "
            "whose vectors along the non-periodic axes span the structure plus vacuum (e.g. "
            "ase.build.fcc111(..., vacuum=8) or atoms.center(vacuum=8, axis=2))"
        )
    return atoms


def _flags(pbc) -> str:
    return " ".join("T" if p else "F" for p in pbc)


def check_no_overlap(atoms: Atoms, source: str, threshold: float = OVERLAP_DISTANCE) -> None:
    """Reject atoms closer than ``threshold`` (periodic images included)."""
    pair = closest_pair(atoms, threshold)
    if pair is not None:
        i, j, d = pair
        raise StructureError(
            f"{source}: atoms {i} and {j} are only {d:.3f} Å apart (< {threshold} Å): remove "
            "duplicated atoms, or check the units (Å) and that fractional coordinates were not "
            "read as Cartesian"
        )


def check_elements(atoms: Atoms, source: str) -> None:
    """Reject the dummy element X (number 0), which ASE uses for unknown species."""
    if np.any(atoms.numbers <= 0):
        raise StructureError(
            f"{source}: the structure contains an unknown chemical element (X); use chemical symbols "
            "such as Cu, Ni, O"
        )


def _check_symbol(symbol: str, source: str, field: str) -> None:
    from ase.data import chemical_symbols

    if symbol not in chemical_symbols[1:]:
        raise StructureError(
            f"{source}: unknown chemical element '{symbol}' in {field}; use a chemical symbol with the "
            "usual capitalisation, e.g. Cu, Ni, Al"
        )


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------
def build_structures(
    specs: Sequence["BulkSpec | FileSpec | PortfolioSpec"], base_dir: Path, rng: np.random.Generator
) -> list[Atoms]:
    """One periodic structure per spec, validated (cell, elements, no overlapping atoms).

    For a ``FileSpec`` whose ``index`` selects several frames, only the first selected frame is used:
    the structure list is indexed by exploration conditions (``condition.structure``), so one spec
    must mean one structure. Frames beyond the first are ignored with a log message; to explore
    them, add one spec per frame (e.g. ``index: '3'``).
    """
    out = []
    for k, spec in enumerate(specs):
        if spec.kind == "bulk":
            source = f"structures[{k}] (bulk {spec.element} {spec.crystal})"
            atoms = build_bulk(spec, rng, source)
        elif spec.kind == "portfolio":  # derived from the element (domain_models/portfolio_config.py)
            from .portfolio import build as build_portfolio

            source = f"structures[{k}] (portfolio {spec.name})"
            atoms = build_portfolio(spec)
        elif spec.kind == "file":
            path = Path(spec.path).expanduser()
            if not path.is_absolute():
                path = Path(base_dir) / path
            source = f"structures[{k}].path ({path})"
            try:
                atoms = read_first_frame(path, spec.index)
            except StructureError as exc:
                raise StructureError(f"structures[{k}].path: {exc}") from None
        else:  # pragma: no cover - the config's discriminator rules this out
            raise StructureError(f"structures[{k}]: unknown structure kind {spec.kind!r}")
        check_elements(atoms, source)
        check_periodic_cell(atoms, source)
        check_no_overlap(atoms, source)
        atoms = strip_results(atoms)
        atoms.info["source"] = f"structures[{k}]"
        out.append(atoms)
    return out


def build_bulk(spec: "BulkSpec", rng: np.random.Generator, source: str) -> Atoms:
    """``ase.build.bulk`` repeated to the supercell, then random substitutions.

    Each substitution ``{element: fraction}`` replaces round(fraction * n_sites) sites (at least one
    if the fraction is positive), drawn without replacement from the sites not yet substituted, so
    several substituents never overwrite each other. For compound hosts (rocksalt, ...) the fraction
    refers to all sites, not one sublattice.
    """
    from ase.build import bulk
    from ase.symbols import string2symbols

    try:
        host_symbols = string2symbols(spec.element)
    except Exception:
        raise StructureError(
            f"{source}: '{spec.element}' is not a chemical symbol or formula; use e.g. Cu or NaCl"
        ) from None
    for sym in host_symbols:
        _check_symbol(sym, source, "element")
    try:
        atoms = bulk(spec.element, spec.crystal, a=spec.a, cubic=spec.cubic)
    except (ValueError, KeyError, RuntimeError, NotImplementedError) as exc:
        hint = " (set `a:` to the lattice constant in Å)" if spec.a is None else ""
        raise StructureError(f"{source}: ase.build.bulk failed: {exc}{hint}") from None
    atoms = atoms * tuple(spec.supercell)
    atoms = apply_substitutions(atoms, spec.substitutions, rng, source)
    return remove_random_sites(atoms, spec.vacancies, rng, source)


def remove_random_sites(atoms: Atoms, n: int, rng: np.random.Generator, source: str) -> Atoms:
    """Point defects for exploration: `n` random sites removed (seeded)."""
    if n <= 0:
        return atoms
    if n >= len(atoms):
        raise StructureError(f"{source}: {n} vacancies leave no atoms in a {len(atoms)}-atom supercell; "
                             f"use fewer vacancies or a larger supercell")
    keep = np.ones(len(atoms), dtype=bool)
    keep[rng.choice(len(atoms), size=n, replace=False)] = False
    return atoms[keep]


def apply_substitutions(
    atoms: Atoms, substitutions: dict[str, float], rng: np.random.Generator, source: str
) -> Atoms:
    """Randomly replace fractions of the sites (see ``build_bulk``); returns a new Atoms."""
    atoms = atoms.copy()
    n_sites = len(atoms)
    free = np.arange(n_sites)
    symbols = list(atoms.get_chemical_symbols())
    for element, fraction in substitutions.items():
        _check_symbol(element, source, "substitutions")
        if not 0 <= fraction <= 1:
            raise StructureError(
                f"{source}: substitution fraction for {element} is {fraction}; it must be in [0, 1]"
            )
        if fraction == 0:
            continue
        count = max(1, int(round(fraction * n_sites)))
        if count > free.size:
            raise StructureError(
                f"{source}: substitutions {substitutions} need more sites than the {n_sites} "
                "available; lower the fractions (their sum must not exceed 1) or enlarge the supercell"
            )
        chosen = rng.choice(free, size=count, replace=False)
        for i in chosen:
            symbols[i] = element
        free = np.setdiff1d(free, chosen)
    atoms.set_chemical_symbols(symbols)
    return atoms


def read_first_frame(path: Path, index: str = ":") -> Atoms:
    """Read the frames selected by ``index`` and return the first, with file-specific errors."""
    from ase.io import read

    if not path.exists():
        raise StructureError(
            f"{path}: structure file not found (relative paths are resolved against the config file's "
            "directory)"
        )
    if path.is_dir():
        raise StructureError(f"{path}: is a directory, expected a structure file")
    if path.stat().st_size == 0 or not path.read_bytes().strip():
        raise StructureError(f"{path}: file is empty; it must contain at least one structure")
    try:
        frames = read(str(path), index=index)
    except KeyError as exc:  # ASE's symbol lookup, e.g. 'Xx' in an xyz file
        raise StructureError(
            f"{path}: unknown chemical element {exc}; use chemical symbols such as Cu, Ni, O"
        ) from None
    except Exception as exc:  # ASE raises many types for corrupt or unrecognised files
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise StructureError(
            f"{path}: cannot read the structure ({type(exc).__name__}{': ' + msg if msg else ''}); "
            "check that the file is complete and in a format ASE recognises from its name "
            "(.extxyz/.xyz, .cif, POSCAR, ...)"
        ) from None
    if isinstance(frames, Atoms):
        frames = [frames]
    frames = list(frames)
    if not frames:
        raise StructureError(f"{path}: index '{index}' selects no structure from the file")
    if len(frames) > 1:
        log.info("%s: %d frames selected; only the first is used as a starting structure", path, len(frames))
    if len(frames[0]) == 0:
        raise StructureError(f"{path}: the first selected structure has no atoms")
    return frames[0]


# --------------------------------------------------------------------------------------------
# Initial training set
# --------------------------------------------------------------------------------------------
def initial_training_structures(
    structures: Sequence[Atoms],
    cfg: "InitialDataConfig",
    rng: np.random.Generator,
    min_distance: float | None = None,
) -> list[Atoms]:
    """Per structure: itself, ``n_rattled`` rattled copies and one strained+rattled copy per strain.

    Strains scale the lattice isotropically (lattice * (1 + strain), atoms follow) so the first fit
    sees the energy-volume curvature (bulk modulus, stress); a slab or wire is strained only along its
    periodic axes (its vacuum and layer spacing stay). A cluster has no lattice: when its core is
    close-packed or bcc it gets companions instead, one small bulk cell of that lattice per strain, and
    two slabs and compressed copies of itself in place of rattled copies (the environments of its
    larger relatives; see core/cluster_companions.py); a molecule gets ``len(strains)`` more rattled
    copies. The count per structure never changes, so the label jobs stay sized.
    ``min_distance`` defaults to min(1.5 Å, 0.8 x the structure's shortest distance): a fixed 1.5 Å
    would be unsatisfiable for hydrides or oxides with shorter bonds; for compressive strains it
    shrinks with the lattice.
    Labels: ``info['source']`` is 'initial:original', 'initial:rattled', 'initial:strained' or
    'initial:companion' (with ``info['companion']``); ``info['structure_index']`` the starting
    structure and ``info['strain']`` the strain where applicable. No calculator or results are attached.
    """
    bad = [s for s in cfg.strains if s <= -1]
    if bad:
        raise StructureError(f"initial_data.strains: {bad} would collapse the cell; strains must be > -1")
    out: list[Atoms] = []
    for k, atoms in enumerate(structures):
        base = strip_results(atoms)
        d_min = min_distance
        if d_min is None:
            d_min = default_min_distance(base)
        out.append(_labelled(base, "original", k))
        if is_cluster(base):  # a cluster has no lattice to strain
            out.extend(_cluster_set(base, k, cfg, d_min, rng))
            continue
        for copy in rattle(base, cfg.n_rattled, cfg.rattle_amplitude(), d_min, rng):
            out.append(_labelled(copy, "rattled", k))
        for strain in cfg.strains:
            strained = base.copy()
            cell = np.asarray(base.cell).copy()
            cell[np.asarray(base.pbc, dtype=bool)] *= 1.0 + strain  # only periodic axes (not a slab's vacuum)
            strained.set_cell(cell, scale_atoms=True)
            d_strained = d_min * min(1.0, 1.0 + strain)
            copy = rattle(strained, 1, cfg.rattle_amplitude(), d_strained, rng)[0]
            copy = _labelled(copy, "strained", k)
            copy.info["strain"] = float(strain)
            out.append(copy)
    return out


def _cluster_set(base: Atoms, k: int, cfg: "InitialDataConfig", d_min, rng: np.random.Generator) -> list[Atoms]:
    """A cluster's slots after the original: with a close-packed or bcc core (and
    ``cluster_companions``), one rattled bulk cell of its lattice per strain and, taken from the
    rattled slots while at least one rattled copy stays, two rattled low-index slabs and the
    cluster compressed by twice each compressive strain (core/cluster_companions.py says why);
    otherwise rattled copies fill every slot."""
    extra = companions(base, cfg.strains, cfg.n_rattled - 1, rng) if cfg.cluster_companions else []
    out = [_labelled(copy, "rattled", k)
           for copy in rattle(base, cfg.n_rattled + len(cfg.strains) - len(extra), cfg.rattle_amplitude(), d_min, rng)]
    for companion in extra:
        d_companion = d_min * min(1.0, 1.0 + companion.info.get("strain", 0.0))
        copy = _labelled(rattle(companion, 1, cfg.rattle_amplitude(), d_companion, rng)[0], "companion", k)
        for key in ("companion", "strain"):
            if key in companion.info:
                copy.info[key] = companion.info[key]
        out.append(copy)
    return out


def surface_slab_copies(slabs: Sequence[Atoms], cfg: "InitialDataConfig", rng: np.random.Generator) -> list[Atoms]:
    """`cfg.surface_slab_copies` rattled copies of each slab (`initial_data.surface_slabs`), labelled
    'initial:surface_slab' with ``info['facet']``; ``structure_index`` -1 (no starting structure)."""
    out = []
    for slab in slabs:
        d_min = default_min_distance(slab)
        for copy in rattle(slab, cfg.surface_slab_copies, cfg.rattle_amplitude(), d_min, rng):
            copy = _labelled(copy, "surface_slab", -1)
            copy.info["facet"] = slab.info["facet"]
            out.append(copy)
    return out


def cell_strain_copies(atoms: Atoms, index: int, cfg: "InitialDataConfig", rng: np.random.Generator) -> list[Atoms]:
    """`cfg.cell_strain_copies` copies of the starting structure `atoms` (structures[`index`]) in randomly
    deformed cells (the candidate swarm's `strain_matrix` at `cfg.cell_strain_fraction`: shape and volume),
    each rattled by the initial rattle: labels whose stresses show the response to a sheared or tetragonal
    cell (`initial_data.cell_strain_copies`). Labelled 'initial:cell_strain' with ``info['cell_strain']``,
    the strain in Voigt order (xx yy zz yz xz xy, engineering shears)."""
    base = strip_results(atoms)
    out = []
    for _ in range(cfg.cell_strain_copies):
        f = strain_matrix(cfg.cell_strain_fraction, base.pbc, rng)
        deformed = base.copy()
        deformed.set_cell(base.cell.array @ f, scale_atoms=True)
        copy = _labelled(rattle(deformed, 1, cfg.rattle_amplitude(), default_min_distance(deformed), rng)[0],
                         "cell_strain", index)
        eps = f - np.eye(3)
        copy.info["cell_strain"] = [round(float(x), 6) for x in
                                    (eps[0, 0], eps[1, 1], eps[2, 2], 2 * eps[1, 2], 2 * eps[0, 2], 2 * eps[0, 1])]
        out.append(copy)
    return out


def _labelled(atoms: Atoms, kind: str, index: int) -> Atoms:
    new = strip_results(atoms)
    new.info["source"] = f"initial:{kind}"
    new.info["structure_index"] = index
    return new
