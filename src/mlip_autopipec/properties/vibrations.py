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
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator

from . import RELAX, tag
from .relax import OracleCalculator, relax_positions, results_copy

TASK = "vibrations/cluster"
VIB = "prop_vib"  # info key of a task: its Hessian is wanted (value: the displacement in Å)
FREQUENCIES = "vib_frequencies_THz"  # info key of a result: the internal frequencies
# sqrt(eV / (Å^2 amu)) in THz: ω = sqrt(λ) rad/s, f = ω / 2π
EV_A2_AMU_TO_THZ = float(np.sqrt(units._e / units._amu) * 1e10 / (2 * np.pi) / 1e12)


def tasks(cluster: Atoms, delta: float) -> list[Atoms]:
    out = tag(cluster.copy(), TASK, relax=True)
    out.info[VIB] = float(delta)
    return [out]


def hessian(atoms: Atoms, calc: Calculator, delta: float) -> np.ndarray:
    """(3N, 3N) second derivatives of the energy in eV/Å², symmetrised, from 6N force calls."""
    work = atoms.copy()
    work.calc = calc
    x0 = atoms.positions.copy()
    n = len(atoms)
    h = np.zeros((3 * n, 3 * n))
    for i in range(n):
        for k in range(3):
            forces = []
            for sign in (1, -1):
                x = x0.copy()
                x[i, k] += sign * delta
                work.positions = x
                forces.append(work.get_forces().ravel())
            h[3 * i + k] = -(forces[0] - forces[1]) / (2 * delta)
    return 0.5 * (h + h.T)


def internal_basis(atoms: Atoms) -> np.ndarray:
    """Orthonormal basis (3N, 3N - r) of mass-weighted displacements free of rigid translation and
    rotation (r = 6, or 5 for a linear molecule, 3 for one atom)."""
    m = np.sqrt(atoms.get_masses())
    x = atoms.positions - atoms.get_center_of_mass()
    rigid = []
    for k in range(3):
        t = np.zeros_like(x)
        t[:, k] = m
        rigid.append(t.ravel())
        axis = np.eye(3)[k]
        rigid.append((np.cross(axis, x) * m[:, None]).ravel())
    u, s, _ = np.linalg.svd(np.array(rigid).T, full_matrices=True)
    rank = int((s > 1e-6 * s.max()).sum())
    return u[:, rank:]


def frequencies(atoms: Atoms, h: np.ndarray) -> np.ndarray:
    """Internal frequencies in THz, ascending; imaginary modes as negative values."""
    inv_sqrt_m = np.repeat(1 / np.sqrt(atoms.get_masses()), 3)
    dyn = h * inv_sqrt_m[:, None] * inv_sqrt_m[None, :]
    q = internal_basis(atoms)
    lam = np.linalg.eigvalsh(q.T @ dyn @ q)
    return np.sort(np.sign(lam) * np.sqrt(np.abs(lam)) * EV_A2_AMU_TO_THZ)


def vibrate(atoms: Atoms, calc: Calculator, delta: float, fmax: float, max_steps: int, relax: bool) -> Atoms:
    """The (relaxed) structure with its energy, forces and `info[FREQUENCIES]`."""
    if relax:
        out = relax_positions(atoms, calc, fmax, max_steps)
    else:
        work = atoms.copy()
        work.calc = calc
        out = results_copy(work)
    out.info[FREQUENCIES] = frequencies(out, hessian(out, calc, delta)).round(5)
    return out


def analyze(results: dict[str, Atoms]) -> list[float]:
    return [float(f) for f in np.asarray(results[TASK].info[FREQUENCIES], dtype=float).ravel()]


def rmse(freqs_a: list[float], freqs_b: list[float]) -> float:
    a, b = np.sort(freqs_a), np.sort(freqs_b)
    if len(a) != len(b):
        raise ValueError(f"{len(a)} against {len(b)} frequencies: not the same cluster")
    return float(np.sqrt(np.mean((a - b) ** 2)))


class VibratingOracle:
    """Wraps an oracle: `label(atoms)` relaxes (unless the task is a cheap-mode single geometry)
    and computes the Hessian with it; one cached result holding the frequencies."""

    def __init__(self, oracle, fmax: float, max_steps: int):
        self.oracle = oracle
        self.name = f"{oracle.name} (vibrations)"
        self.fmax, self.max_steps = fmax, max_steps

    def label(self, atoms: Atoms) -> Atoms:
        calc = OracleCalculator(self.oracle)
        out = vibrate(atoms, calc, float(atoms.info[VIB]), self.fmax, self.max_steps, bool(atoms.info.get(RELAX)))
        out.info.update({k: v for k, v in atoms.info.items() if k not in out.info})
        out.info["oracle"] = self.oracle.name
        out.info["oracle_calls"] = calc.n_calls
        return out
