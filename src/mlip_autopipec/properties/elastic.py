"""Elastic constants: the full 6x6 matrix from stress–strain central differences.

Each of the six Voigt strains is applied with ±δ and C_ij = (σ_i(+δ) − σ_i(−δ)) / 2δ (ASE's stress
sign: positive under tension). Crystals whose primitive cell holds more than one atom have internal
degrees of freedom (diamond: C44 changes by ~30 % when the two sublattices may shift), so those
strained cells are relaxed at fixed cell first: the relaxed-ion constants, which experiments and
DFT tables report.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from . import EV_PER_A3_TO_GPA, tag

PREFIX = "elastic/"
MATRIX = "elastic_matrix_GPa"  # details.json key of the 6x6 matrix
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def strain_matrix(voigt: int, magnitude: float) -> np.ndarray:
    """Symmetric strain tensor of one Voigt component (engineering shear: ε_pq = γ/2)."""
    eps = np.zeros((3, 3))
    p, q = VOIGT[voigt]
    if p == q:
        eps[p, p] = magnitude
    else:
        eps[p, q] = eps[q, p] = magnitude / 2
    return eps


def strained(cell: Atoms, voigt: int, magnitude: float) -> Atoms:
    a = cell.copy()
    a.set_cell(cell.cell.array @ (np.eye(3) + strain_matrix(voigt, magnitude)), scale_atoms=True)
    return a


def tasks(cell: Atoms, strain: float, relax_ions: bool, components=range(6)) -> list[Atoms]:
    """Two strained cells per Voigt component (0-5 = xx, yy, zz, yz, xz, xy)."""
    out = []
    for j in components:
        for sign, name in ((1, "+"), (-1, "-")):
            out.append(tag(strained(cell, j, sign * strain), f"{PREFIX}{j}{name}", relax=relax_ions))
    return out


def elastic_matrix(results: dict[str, Atoms], strain: float) -> np.ndarray:
    """6x6 matrix in GPa, NaN in the columns of components not computed. Where both C_ij and C_ji
    were measured (the same derivative, twice) they are averaged."""
    c = np.full((6, 6), np.nan)
    for j in range(6):
        if f"{PREFIX}{j}+" not in results and f"{PREFIX}{j}-" not in results:
            continue
        plus = results[f"{PREFIX}{j}+"].get_stress(voigt=True)
        minus = results[f"{PREFIX}{j}-"].get_stress(voigt=True)
        c[:, j] = (plus - minus) / (2 * strain)
    both = ~np.isnan(c) & ~np.isnan(c.T)
    c = np.where(both, 0.5 * (c + np.where(both, c.T, 0)), c)
    if np.isnan(c).all():
        raise KeyError(f"{PREFIX}*")
    return c * EV_PER_A3_TO_GPA


def analyze(results: dict[str, Atoms], strain: float, cubic: bool) -> tuple[dict[str, float], list]:
    """Reported constants and the full matrix. Cubic crystals: C11, C12, C44 as the mean over their
    three symmetry-equivalent entries; otherwise every independent C_ij of the upper triangle."""
    c = elastic_matrix(results, strain)
    if cubic:  # each constant: the mean of its symmetry-equivalent entries that were computed
        groups = {"C11": [(0, 0), (1, 1), (2, 2)],
                  "C12": [(0, 1), (0, 2), (1, 2), (1, 0), (2, 0), (2, 1)],
                  "C44": [(3, 3), (4, 4), (5, 5)]}
        values = {}
        for name, entries in groups.items():
            found = [c[i, j] for i, j in entries if not np.isnan(c[i, j])]
            if found:
                values[name] = float(np.mean(found))
    else:
        scale = max(1.0, float(np.nanmax(np.abs(c))))
        values = {f"C{i + 1}{j + 1}": float(c[i, j]) for i in range(6) for j in range(i, 6)
                  if not np.isnan(c[i, j]) and abs(c[i, j]) > 1e-6 * scale}
    return values, [[None if np.isnan(x) else round(float(x), 3) for x in row] for row in c]
