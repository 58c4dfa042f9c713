"""Checks of the starting structures against the config that depend on their periodicity and
chemistry: run in preflight, so each mistake is one line before any label.

* NPT needs a 3D-periodic cell: a pressure on a slab, wire or cluster has no meaning (a slab's
  vacuum would be compressed away).
* A slab or wire must have more vacuum than the ACE cutoff plus ``vacuum_margin`` along each
  non-periodic axis (pyace sees it as periodic; see ``core.periodicity``).
* No minimum distance may exceed the structure's own shortest distance of that element pair:
  candidates around it could never satisfy it.
"""

from __future__ import annotations

from typing import Sequence

from ase import Atoms

from .candidate_generator import candidate_limits
from .errors import UserError
from .min_distance import check_against
from .periodicity import DEFAULT_VACUUM_MARGIN, check_vacuum, is_bulk, kind

DEFAULT_CUTOFF = 5.0  # Å; trainers without a basis (mock) are checked as if they had pyace's usual cutoff


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
    basis = getattr(cfg.trainer, "basis", None)
    cutoff = float(basis.cutoff) if basis is not None else DEFAULT_CUTOFF
    margin = float(getattr(cfg, "vacuum_margin", DEFAULT_VACUUM_MARGIN))
    for k, atoms in enumerate(structures):
        check_vacuum(atoms, cutoff, margin, f"structures[{k}]")
    limits = candidate_limits(cfg.candidates)
    for k, atoms in enumerate(structures):
        problem = check_against(atoms, limits, f"structures[{k}]")
        if problem:
            raise UserError(f"candidates.min_distance: {problem}")
