"""Content identity of a structure: the key of the label cache and of mock fault injection."""

from __future__ import annotations

import hashlib

from ase import Atoms


def structure_hash(atoms: Atoms) -> str:
    """Hash of species, positions, cell and periodicity (rounded to 1e-8 Å against float noise
    from an extxyz round trip)."""
    h = hashlib.sha256()
    h.update(atoms.numbers.astype("int64").tobytes())
    h.update(atoms.positions.round(8).tobytes())
    h.update(atoms.cell.array.round(8).tobytes())
    h.update(atoms.pbc.astype(bool).tobytes())
    return h.hexdigest()[:16]


def settings_key(settings_json: str) -> str:
    """Short hash of an oracle's settings JSON: the second half of a label cache key."""
    return hashlib.sha256(settings_json.encode()).hexdigest()[:12]
