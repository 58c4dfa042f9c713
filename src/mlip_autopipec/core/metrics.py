"""Error metrics of a potential against labelled structures."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import units


def rmse_metrics(calc, frames: Sequence) -> dict:
    """Energy RMSE per atom (eV/atom), force-component RMSE (eV/Å) and, over the 3D-periodic frames
    that carry a stress label, pressure RMSE (GPa; None without any) of `calc` on `frames`.

    Frames carry their reference labels as SinglePointCalculator results. Energies are compared
    as totals, so the potential must include the isolated-atom reference energies it was fitted
    without (ACE yaml files carry them as E0 shifts).
    """
    if not frames:
        return {"energy_rmse_per_atom": None, "force_rmse": None, "n_structures": 0}
    de, df, dp = [], [], []
    for ref in frames:
        e_ref, f_ref = ref.get_potential_energy(), ref.get_forces()
        atoms = ref.copy()
        atoms.calc = calc
        de.append((atoms.get_potential_energy() - e_ref) / len(atoms))
        df.append((atoms.get_forces() - f_ref).ravel())
        if "stress" in getattr(ref.calc, "results", {}) and atoms.pbc.all():  # pressure = -trace(stress) / 3
            dp.append(-(np.sum(atoms.get_stress(voigt=True)[:3]) - np.sum(ref.get_stress(voigt=True)[:3])) / 3)
    de, df = np.asarray(de), np.concatenate(df)
    return {
        "energy_rmse_per_atom": float(np.sqrt(np.mean(de**2))),
        "force_rmse": float(np.sqrt(np.mean(df**2))),
        "n_structures": len(frames),
        "pressure_rmse_gpa": float(np.sqrt(np.mean(np.square(dp))) / units.GPa) if dp else None,
    }
