"""Equation of state: E(V) over (1 ± range) V, fitted with the Birch–Murnaghan form.

The third-order Birch–Murnaghan energy is what ASE's `eos` module and the Δ-test use, so V0, B0
and B0' from here are comparable with the published tables in docs/references.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from scipy.optimize import curve_fit

from . import EV_PER_A3_TO_GPA, tag

PREFIX = "eos/"


def birch_murnaghan(volume, e0, v0, b0, b0p):
    """Third-order Birch–Murnaghan energy; b0 in eV/Å^3."""
    eta = (v0 / volume) ** (2.0 / 3.0)
    return e0 + 9.0 * v0 * b0 / 16.0 * ((eta - 1.0) ** 3 * b0p + (eta - 1.0) ** 2 * (6.0 - 4.0 * eta))


def fit_birch_murnaghan(volumes, energies) -> dict:
    """Least-squares fit. Returns e0 (eV), v0 (Å^3), b0 (GPa), b0p; started from a parabola so that
    the nonlinear fit never needs a user guess."""
    v, e = np.asarray(volumes, float), np.asarray(energies, float)
    if len(v) < 5:
        raise ValueError(f"a Birch–Murnaghan fit needs at least 5 volumes, got {len(v)}")
    c2, c1, c0 = np.polyfit(v, e, 2)
    if c2 <= 0:
        raise ValueError("E(V) is not convex: no minimum to fit (is the structure stable?)")
    v0 = -c1 / (2 * c2)
    guess = (c0 - c1**2 / (4 * c2), v0, 2 * c2 * v0, 4.0)
    popt, pcov = curve_fit(birch_murnaghan, v, e, p0=guess, maxfev=20000)
    e0, v0, b0, b0p = (float(x) for x in popt)
    b0_se = float(np.sqrt(pcov[2, 2])) if np.isfinite(pcov[2, 2]) else 0.0
    if not (v.min() * 0.9 < v0 < v.max() * 1.1) or b0 <= 0:
        raise ValueError(f"the Birch–Murnaghan minimum ({v0:.3f} Å^3) lies outside the sampled volumes "
                         f"[{v.min():.3f}, {v.max():.3f}]: widen properties.eos_range or start closer to V0")
    return {"e0": e0, "v0": v0, "b0": b0 * EV_PER_A3_TO_GPA, "b0p": b0p, "b0_se": b0_se * EV_PER_A3_TO_GPA}


def tasks(cell: Atoms, n_points: int, volume_range: float) -> list[Atoms]:
    """Isotropically scaled copies of `cell`, volumes evenly spaced in (1 ± range) V."""
    out = []
    for k, f in enumerate(np.linspace(1 - volume_range, 1 + volume_range, n_points)):
        a = cell.copy()
        a.set_cell(cell.cell * f ** (1 / 3), scale_atoms=True)
        out.append(tag(a, f"{PREFIX}{k:02d}"))
    return out


def analyze(results: dict[str, Atoms], reference_cell: Atoms, a_reference: float) -> dict[str, float]:
    """Lattice constant (Å; `a_reference` scaled by (V0/V)^(1/3)), V0 per atom, B0 (GPa), B0'."""
    frames = [results[k] for k in sorted(k for k in results if k.startswith(PREFIX))]
    vols = [f.get_volume() for f in frames]
    fit = fit_birch_murnaghan(vols, [f.get_potential_energy() for f in frames])
    n = len(reference_cell)
    return {
        "lattice_constant": a_reference * (fit["v0"] / reference_cell.get_volume()) ** (1 / 3),
        "volume_per_atom": fit["v0"] / n,
        "bulk_modulus": fit["b0"],
        "bulk_modulus_derivative": fit["b0p"],
        "bulk_modulus_se": fit["b0_se"],
    }
