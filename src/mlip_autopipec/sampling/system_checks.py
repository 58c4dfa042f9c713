"""Checks of the starting structures against the config that depend on their periodicity and
chemistry: run in preflight, so each mistake is one line before any label.

* NPT needs a 3D-periodic cell: a pressure on a slab, wire or cluster has no meaning (a slab's
  vacuum would be compressed away).
* A slab or wire must have more vacuum than the ACE cutoff plus ``vacuum_margin`` along each
  non-periodic axis (pyace sees it as periodic; see ``core.periodicity``).
* No minimum distance may exceed the structure's own shortest distance of that element pair:
  candidates around it could never satisfy it.

And one advice that is not an error (``narrow_cells_advice``): periodic starting structures that are all
narrower than twice the cutoff give only training environments that contain their own images.
"""

from __future__ import annotations

from typing import Sequence

from ase import Atoms

from .candidate_generator import candidate_limits
from ..core.errors import UserError
from ..core.min_distance import check_against
from ..core.periodicity import DEFAULT_VACUUM_MARGIN, check_vacuum, is_bulk, kind, periodic_widths

DEFAULT_CUTOFF = 5.0  # Å; trainers without a basis (mock) are checked as if they had pyace's usual cutoff


def trainer_cutoff(cfg) -> float:
    """The ACE cutoff of the configured trainer (DEFAULT_CUTOFF for trainers without a basis)."""
    basis = getattr(cfg.trainer, "basis", None)
    return float(basis.cutoff) if basis is not None else DEFAULT_CUTOFF


def check_structures_against_config(cfg, structures: Sequence[Atoms]) -> None:
    """Raise UserError naming the field and the fix (see module docstring)."""
    for i, cond in enumerate(cfg.exploration.conditions):
        atoms = structures[cond.structure]
        if cond.pressure is not None and not is_bulk(atoms):
            flags = " ".join("T" if p else "F" for p in atoms.pbc)
            raise UserError(
                f"exploration.conditions[{i}] ('{cond.name}'): pressure {cond.pressure:g} GPa on structures"
                f"[{cond.structure}], a {kind(atoms)} (pbc {flags}); NPT needs a 3D-periodic cell: remove "
                "`pressure` (NVT)"
            )
    cutoff = trainer_cutoff(cfg)
    margin = float(getattr(cfg, "vacuum_margin", DEFAULT_VACUUM_MARGIN))
    for k, atoms in enumerate(structures):
        check_vacuum(atoms, cutoff, margin, f"structures[{k}]")
    limits = candidate_limits(cfg.candidates)
    for k, atoms in enumerate(structures):
        problem = check_against(atoms, limits, f"structures[{k}]")
        if problem:
            raise UserError(f"candidates.min_distance: {problem}")


def narrow_cells_advice(structures: Sequence[Atoms], cutoff: float) -> str | None:
    """Why the initial data should include a wider cell, or None.

    In a periodic cell narrower than 2 x cutoff every atom's cutoff sphere holds images of its own
    neighbours, so all of its rattled copies, MD frames and swarms show only environments tied to that
    cell's periodicity: a 32-atom Cu cell at a 5 Å cutoff (7.2 Å wide) cannot show a displacement
    pattern with a longer wavelength. A fit on such data alone is worse on larger cells and on
    everything else (Cu/EMT: held-out force RMSE 1.27 -> 1.21 meV/Å from replacing 4 rattled 32-atom
    copies per structure by copies of one 108-atom cell; benchmarks/RESULTS.md, "Training cells wider
    than twice the cutoff"). Advice, not an error: a user may want exactly that cell.
    """
    periodic = [(k, periodic_widths(a)) for k, a in enumerate(structures) if any(a.pbc)]
    if not periodic:
        return None
    need = 2.0 * cutoff
    if any(w and min(w.values()) >= need for _, w in periodic):
        return None
    k, widths = max(periodic, key=lambda kw: min(kw[1].values(), default=0.0))
    return (f"structures: every periodic starting structure is narrower than 2 x the cutoff ({need:g} Å; the widest, "
            f"structures[{k}], is {min(widths.values(), default=0.0):.2f} Å across), so every training environment "
            "holds its own periodic images; add a supercell at least that wide to `structures` (it need not be "
            "explored: its rattled and strained copies join the initial data; docs/accuracy.md \"Training cells\")")
