"""Shortest allowed distance per element pair, for candidates (and the checks on starting structures).

One length for every pair cannot work: an O-H bond is 0.96 Å and two Pt atoms 1.5 Å apart have
collapsed. The default is a fraction of the sum of covalent radii (``ase.data.covalent_radii``,
Cordero et al. 2008), so it follows the chemistry: with the default fraction 0.6, Cu-Cu 1.58 Å,
Pt-Pt 1.63 Å, O-H 0.58 Å, C-H 0.64 Å, H-H 0.37 Å. A config may override any pair
(``{"O-H": 0.8}``) or give one length for all pairs (a plain number, the former behaviour).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols, covalent_radii
from ase.neighborlist import neighbor_list

from ..domain_models.element_pairs import parse_pair  # noqa: F401  (re-exported)

DEFAULT_FRACTION = 0.6


class PairLimits:
    """Minimum distance for every pair of atomic numbers (symmetric table, Å)."""

    def __init__(self, fraction: float = DEFAULT_FRACTION, overrides: dict[str, float] | None = None,
                 uniform: float | None = None):
        self.fraction = float(fraction)
        self.uniform = uniform
        self.overrides = {parse_pair(k): float(v) for k, v in (overrides or {}).items()}
        n = len(covalent_radii)
        if uniform is not None:
            self.table = np.full((n, n), float(uniform))
        else:
            self.table = self.fraction * (covalent_radii[:, None] + covalent_radii[None, :])
        for (a, b), v in self.overrides.items():
            self.table[a, b] = self.table[b, a] = v

    @classmethod
    def from_setting(cls, setting, fraction: float = DEFAULT_FRACTION) -> "PairLimits":
        """From a config value: None (covalent default), a number (all pairs) or {pair: Å}."""
        if isinstance(setting, PairLimits):
            return setting
        if setting is None:
            return cls(fraction)
        if isinstance(setting, (int, float)):
            return cls(fraction, uniform=float(setting))
        return cls(fraction, overrides=dict(setting))

    def pair(self, z1: int, z2: int) -> float:
        return float(self.table[z1, z2])

    def max_for(self, numbers) -> float:
        """Largest limit among the pairs the given atomic numbers can form (the search radius)."""
        z = np.unique(np.asarray(numbers, dtype=int))
        return float(self.table[np.ix_(z, z)].max()) if z.size else 0.0

    def describe(self, numbers) -> str:
        z = np.unique(np.asarray(numbers, dtype=int))
        return ", ".join(f"{chemical_symbols[a]}-{chemical_symbols[b]} {self.table[a, b]:.2f} Å"
                         for i, a in enumerate(z) for b in z[i:])

    def too_close(self, atoms: Atoms) -> np.ndarray:
        """Pairs (i, j, d) closer than their limit (periodic images along periodic axes only)."""
        if len(atoms) < 2 and not np.any(atoms.pbc):
            return np.empty((0, 3))
        i, j, d = neighbor_list("ijd", atoms, self.max_for(atoms.numbers))
        limit = self.table[atoms.numbers[i], atoms.numbers[j]]
        bad = d < limit
        return np.column_stack([i[bad], j[bad], d[bad]])


def as_limits(min_distance) -> PairLimits:
    """Accept a plain number (all pairs) or a PairLimits."""
    if isinstance(min_distance, PairLimits):
        return min_distance
    return PairLimits(uniform=float(min_distance))


def shortest_pairs(atoms: Atoms, search: float) -> dict[tuple[int, int], float]:
    """{(Z1, Z2) sorted: shortest distance of that pair within ``search`` Å} (minimum image only along
    periodic axes)."""
    out: dict[tuple[int, int], float] = {}
    i, j, d = neighbor_list("ijd", atoms, search)
    z = atoms.numbers
    for a, b, dist in zip(z[i], z[j], d):
        key = (int(min(a, b)), int(max(a, b)))
        if dist < out.get(key, np.inf):
            out[key] = float(dist)
    return out


def check_against(atoms: Atoms, limits: PairLimits, source: str) -> str | None:
    """A message if a starting structure already violates a limit (the limit is then impossible to
    keep for candidates around it), else None."""
    found = shortest_pairs(atoms, limits.max_for(atoms.numbers))
    for (a, b), dist in sorted(found.items()):
        limit = limits.pair(a, b)
        if dist < limit:
            pair = f"{chemical_symbols[a]}-{chemical_symbols[b]}"
            return (f"{pair} minimum distance {limit:.3f} Å is larger than the shortest {pair} distance "
                    f"{dist:.3f} Å in {source}; lower it below {dist:.3f} Å (e.g. candidates.min_distance: "
                    f"{{'{pair}': {0.8 * dist:.2f}}}) or check the structure")
    return None
