"""Atom-swap Metropolis Monte Carlo with the current potential, between MD segments.

Why: MD at accessible temperatures almost never moves an atom to another lattice site, so an alloy
explored from a random decoration keeps that decoration; ordered phases (L1_2, L1_0, ...) and the
short-range order of annealed alloys are never visited, and the potential is never trained (nor
gamma-checked) there. A swap exchanges the positions of two atoms of different elements and is
accepted with probability min(1, exp(-dE / kT)) at the condition's temperature (canonical
sampling of the chemical order at fixed composition). Swapped configurations the potential has
not seen raise gamma at the next check and are labelled like any other halt.

Positions are exchanged, not chemical symbols: each atom keeps its mass and velocity, so the
integrator's cached masses stay valid (ASE's Langevin keeps them) and no kinetic energy jumps.
NPT is excluded by the config (Melchionna's NPT keeps its own copy of the scaled positions).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from ase import Atoms, units

log = logging.getLogger(__name__)


@dataclass
class SwapStats:
    attempted: int = 0
    accepted: int = 0

    def add(self, other: "SwapStats") -> None:
        self.attempted += other.attempted
        self.accepted += other.accepted


# Elements that make a compound ionic or covalent (anions and their kin): exchanging one with a metal is an
# antisite defect, not a change of chemical order.
NONMETALS = frozenset({1, 2, 5, 6, 7, 8, 9, 10, 14, 15, 16, 17, 18, 33, 34, 35, 36, 52, 53, 54, 85, 86})


def compound_with_nonmetal(numbers) -> bool:
    """Several elements, one of them a nonmetal (MgO, SiC, LiF): its composition is a stoichiometry, not a
    chemical order to explore (no swaps here; the rank check treats one stoichiometry as information)."""
    elements = {int(z) for z in numbers}
    return len(elements) > 1 and bool(elements & NONMETALS)


def swaps_enabled(atoms: Atoms, swaps: bool | None, pressure: float | None) -> bool:
    """A condition's `swaps` setting resolved: null means on for a metallic alloy (several elements, none a
    nonmetal) under NVT.

    Not for a compound with a nonmetal (MgO, SiC, LiF): a swap there is a cation-anion antisite, whose energy
    an early potential has never seen; MgO's 300 K MD accepted one and collapsed within 10 steps (Mg-O and
    O-O pairs at 0.7 Å), so examples/universal_distill stopped on patience."""
    if swaps is not None:
        return swaps
    return pressure is None and len(set(atoms.numbers)) > 1 and not compound_with_nonmetal(atoms.numbers)


def swappable_pair(numbers: np.ndarray, rng: np.random.Generator) -> tuple[int, int] | None:
    """Two atoms of different elements, uniformly: a random atom, then a random atom of another element."""
    i = int(rng.integers(len(numbers)))
    others = np.flatnonzero(numbers != numbers[i])
    if others.size == 0:
        return None
    return i, int(others[rng.integers(others.size)])


def metropolis_swaps(atoms: Atoms, calc, temperature_K: float, n_attempts: int,
                     rng: np.random.Generator) -> SwapStats:
    """`n_attempts` Metropolis swap moves on `atoms` in place (energies from `calc`); returns the counts."""
    stats = SwapStats()
    if len(set(atoms.numbers)) < 2:
        return stats
    kT = units.kB * temperature_K
    positions = atoms.get_positions()
    energy = calc.get_potential_energy(atoms)
    for _ in range(n_attempts):
        pair = swappable_pair(atoms.numbers, rng)
        if pair is None:
            break
        i, j = pair
        trial = positions.copy()
        trial[[i, j]] = trial[[j, i]]
        atoms.set_positions(trial, apply_constraint=False)  # FixCom would shift every atom back
        new = calc.get_potential_energy(atoms)
        stats.attempted += 1
        delta = new - energy
        if delta <= 0 or rng.random() < math.exp(-delta / kT):
            positions, energy = trial, new
            stats.accepted += 1
        else:
            atoms.set_positions(positions, apply_constraint=False)
    return stats
