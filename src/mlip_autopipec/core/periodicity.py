"""Periodicity of a structure: bulk, slab, wire or cluster, as its ``pbc`` flags say.

The structure file decides: a 3D-periodic cell is bulk; periodic along two axes a slab (vacuum along
the third), along one axis a wire; no periodic axis a cluster or molecule, which needs no cell at all.
Every stage keeps the structure's own ``pbc``, so distances use the minimum image only along the
periodic axes and nothing invents a periodicity the structure does not have.

Two consumers accept only all-or-nothing periodicity and get a view made here:

* pyace (the ACE descriptors) accepts fully periodic or fully non-periodic cells. A slab or wire
  is evaluated as fully periodic *with its vacuum* (``ace_view``): exact as long as the vacuum is
  wider than the cutoff, which ``check_vacuum`` demands (plus a margin for surface atoms that move
  during MD) before any label. A cluster stays non-periodic (pyace needs no cell then).
* Codes that need a box (plane-wave DFT, LAMMPS) get one from ``boxed``: a cluster is centred in an
  orthorhombic cell padded by vacuum on every side; a slab or wire keeps its cell (its vacuum is
  already checked).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from .errors import StructureError

#: Extra vacuum (Å) beyond the ACE cutoff that a slab or wire must have along each non-periodic axis:
#: surface atoms vibrate and relax outwards during exploration, and the periodic view must never let
#: an atom see the slab's image through the vacuum.
DEFAULT_VACUUM_MARGIN = 2.0


def kind(atoms: Atoms) -> str:
    """'bulk', 'slab', 'wire' or 'cluster' from the number of periodic axes."""
    return {3: "bulk", 2: "slab", 1: "wire", 0: "cluster"}[int(np.count_nonzero(atoms.pbc))]


def is_bulk(atoms: Atoms) -> bool:
    return bool(np.all(atoms.pbc))


def is_cluster(atoms: Atoms) -> bool:
    return not bool(np.any(atoms.pbc))


def vacuum_widths(atoms: Atoms) -> dict[int, float]:
    """{non-periodic axis: width of the empty gap between the atoms and their image across it} (Å).

    The gap is measured along the normal of the plane spanned by the other two cell vectors: the
    plane spacing minus the extent of the atoms along that normal. Only axes with a cell vector are
    reported (a cluster without a cell has no image to keep away from).
    """
    out = {}
    if atoms.cell.rank < 3:
        return out
    recip = _reciprocal_rows(atoms)
    for axis in np.flatnonzero(~np.asarray(atoms.pbc)):
        normal = recip[axis] / np.linalg.norm(recip[axis])
        spacing = 1.0 / np.linalg.norm(recip[axis])
        proj = atoms.positions @ normal
        out[int(axis)] = float(spacing - np.ptp(proj)) if len(atoms) else spacing
    return out


def periodic_widths(atoms: Atoms) -> dict[int, float]:
    """{periodic axis: spacing of the lattice planes normal to it} (Å): how far an atom is from its own
    image across that axis, whatever the cell's shape (for a cubic cell, the edge length)."""
    if atoms.cell.rank < 3:
        return {}
    recip = _reciprocal_rows(atoms)
    return {int(axis): float(1.0 / np.linalg.norm(recip[axis])) for axis in np.flatnonzero(atoms.pbc)}


def _reciprocal_rows(atoms: Atoms) -> np.ndarray:
    """Rows b_k with a_i . b_k = delta_ik: b_k is normal to the planes of the other two cell vectors,
    and 1 / |b_k| is their spacing."""
    return np.linalg.inv(np.asarray(atoms.cell)).T


def check_vacuum(atoms: Atoms, cutoff: float, margin: float, source: str) -> None:
    """A slab or wire must keep its periodic images out of each other's cutoff sphere.

    Raises StructureError naming the vacuum found and the cell length needed along each short axis.
    """
    if is_bulk(atoms) or is_cluster(atoms):
        return
    if atoms.cell.rank < 3:
        raise StructureError(
            f"{source}: a {kind(atoms)} (pbc {_pbc_str(atoms)}) needs a cell vector along its non-periodic "
            "axis too, spanning the structure plus vacuum (e.g. ase.build.fcc111(..., vacuum=8))"
        )
    needed = cutoff + margin
    for axis, width in vacuum_widths(atoms).items():
        if width < needed:
            length = float(np.linalg.norm(atoms.cell[axis]))
            raise StructureError(
                f"{source}: the vacuum along non-periodic axis {'abc'[axis]} is {width:.2f} Å but must be at least "
                f"{needed:.2f} Å (ACE cutoff {cutoff:g} Å + margin {margin:g} Å): lengthen cell vector "
                f"{'abc'[axis]} by {needed - width:.2f} Å to at least {length + needed - width:.2f} Å "
                f"(e.g. a larger `vacuum=` in ase.build)"
            )


def ace_view(atoms: Atoms) -> Atoms:
    """The copy pyace evaluates: a slab or wire as fully periodic (its checked vacuum keeps the
    images apart), bulk and clusters unchanged. No calculator is attached."""
    view = atoms.copy()
    view.calc = None
    if np.any(view.pbc) and not np.all(view.pbc):
        view.pbc = True
    return view


def boxed(atoms: Atoms, padding: float) -> Atoms:
    """A fully periodic copy for codes that need a box.

    A cluster is centred in an orthorhombic box whose edges are its extent plus ``padding`` on each
    side (its own cell, if any, is ignored: the padding is what the user chose); a slab or wire keeps
    its cell, whose vacuum was checked; bulk is returned as a copy. Only positions are translated, so
    energies and forces are those of the original structure.
    """
    out = atoms.copy()
    if is_cluster(atoms):
        extent = np.ptp(atoms.positions, axis=0) if len(atoms) else np.zeros(3)
        out.set_cell(np.diag(extent + 2.0 * padding))
        out.center()
    out.pbc = True
    return out


def _pbc_str(atoms: Atoms) -> str:
    return " ".join("T" if p else "F" for p in atoms.pbc)
