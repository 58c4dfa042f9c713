"""Vibrational frequencies of a relaxed cluster (or molecule) from a finite-difference Hessian.

Central differences of the forces (6N calculations), symmetrised and mass-weighted. The rigid
translations and rotations are projected out before diagonalising, so instead of six modes of
finite-difference and imperfect-relaxation noise near zero (which would dominate an RMSE) exactly
3N−6 (linear: 3N−5) internal frequencies remain, sorted ascending, imaginary ones as negative
numbers (ASE's convention). Potential and oracle are compared as the RMSE of the sorted lists.

Frequencies belong to a geometry, and a Hessian is only meaningful at a minimum, so each side
relaxes the cluster with its own forces first; relaxation + Hessian of the oracle is one cached
calculation (`VibratingOracle`, like `RelaxingOracle`), computed in one job because the displaced
structures are only known once the relaxation has finished. In cheap mode the oracle's Hessian is
taken at the potential-relaxed geometry (no oracle relaxation; 6N oracle calls instead of ~6N + 30).

A relaxation keeps the symmetry of its start (the forces of a symmetric structure are symmetric), so a
symmetric start the oracle does not hold at a minimum ends on a saddle point: EMT's CH4 relaxed from the
tetrahedral geometry has all five bending modes imaginary (-3.9, -2.6 THz; its minimum is a distorted
CH4 21 meV lower). Frequencies there are no vibrations, so the row is not judged (`saddle_point`).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator

from ..sampling.candidate_generator import external_modes, hessian, normal_modes
from . import RELAX, tag
from .relax import RelaxingOracle, relax_positions, single_point

TASK = "vibrations/cluster"
VIB = "prop_vib"  # info key of a task: its Hessian is wanted (value: the displacement in Å)
FREQUENCIES = "vib_frequencies_THz"  # info key of a result: the internal frequencies
# sqrt(eV / (Å^2 amu)) in THz: ω = sqrt(λ) rad/s, f = ω / 2π
EV_A2_AMU_TO_THZ = float(np.sqrt(units._e / units._amu) * 1e10 / (2 * np.pi) / 1e12)


def tasks(cluster: Atoms, delta: float) -> list[Atoms]:
    out = tag(cluster.copy(), TASK, relax=True)
    out.info[VIB] = float(delta)
    return [out]


def frequencies(atoms: Atoms, h: np.ndarray) -> np.ndarray:
    """Internal frequencies in THz, ascending; imaginary modes as negative values: the swarm's normal
    modes (rigid translations and rotations projected out) in the stage's unit."""
    freqs, _ = normal_modes(h, atoms.get_masses(), external_modes(atoms))
    return np.sort(freqs * EV_A2_AMU_TO_THZ)


def vibrate(atoms: Atoms, calc: Calculator, delta: float, fmax: float, max_steps: int, relax: bool) -> Atoms:
    """The (relaxed) structure with its energy, forces and `info[FREQUENCIES]`."""
    out = relax_positions(atoms, calc, fmax, max_steps) if relax else single_point(atoms, calc)
    out.info[FREQUENCIES] = frequencies(out, hessian(out, calc, delta)).round(5)
    return out


def analyze(results: dict[str, Atoms]) -> list[float]:
    return [float(f) for f in np.asarray(results[TASK].info[FREQUENCIES], dtype=float).ravel()]


def saddle_point(oracle_freqs: list[float], bound: float) -> str | None:
    """Why the oracle's frequencies are no vibrations (imaginary modes beyond `bound`, the row's own
    tolerance, THz: below it they are finite-difference and relaxation noise), or None at a minimum."""
    imaginary = sorted(f for f in oracle_freqs if f < -bound)
    if not imaginary:
        return None
    return (f"oracle: {len(imaginary)} imaginary mode(s) down to {imaginary[0]:.2f} THz at its relaxed structure: a "
            "saddle point (a relaxation keeps its start's symmetry), whose frequencies are no vibrations; start from "
            "a structure the oracle holds at a minimum")


def rmse(freqs_a: list[float], freqs_b: list[float]) -> float:
    a, b = np.sort(freqs_a), np.sort(freqs_b)
    if len(a) != len(b):
        raise ValueError(f"{len(a)} against {len(b)} frequencies: not the same cluster")
    return float(np.sqrt(np.mean((a - b) ** 2)))


class VibratingOracle(RelaxingOracle):
    """Wraps an oracle: `label(atoms)` relaxes (unless the task is a cheap-mode single geometry)
    and computes the Hessian with it; one cached result holding the frequencies."""

    what = "vibrations"

    def compute(self, atoms: Atoms, calc: Calculator) -> Atoms:
        return vibrate(atoms, calc, float(atoms.info[VIB]), self.fmax, self.max_steps, bool(atoms.info.get(RELAX)))
