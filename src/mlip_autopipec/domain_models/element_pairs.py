"""Element-pair keys of the config (`min_distance: {"O-H": 0.8}`).

They live with the config models because the config validates them at load time, before any work;
`core/min_distance.py` reuses the same parser for its distance table.
"""

from __future__ import annotations

from ase.data import atomic_numbers


def parse_pair(key: str) -> tuple[int, int]:
    """'O-H' (order irrelevant) -> sorted atomic numbers; ValueError with the fix otherwise."""
    parts = [p.strip() for p in str(key).split("-")]
    if len(parts) != 2 or not all(p in atomic_numbers and atomic_numbers[p] > 0 for p in parts):
        raise ValueError(f"min_distance key {key!r} is not an element pair; write it like 'O-H' or 'Cu-Cu'")
    a, b = sorted(atomic_numbers[p] for p in parts)
    return a, b
