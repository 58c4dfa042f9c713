"""Error metrics of a potential against labelled structures."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import units

from .label_weights import energy_weight, force_weights


def rmse_metrics(calc, frames: Sequence) -> dict:
    """Energy RMSE per atom (eV/atom), force-component RMSE (eV/Å) and, over the 3D-periodic frames
    that carry a stress label, pressure RMSE (GPa; None without any) of `calc` on `frames`.

    Frames carry their reference labels as SinglePointCalculator results. Energies are compared
    as totals, so the potential must include the isolated-atom reference energies it was fitted
    without (ACE yaml files carry them as E0 shifts).

    Only what is a label counts (core/label_weights.py): a cut-out's energy (and stress) and its
    boundary forces are not, so energies and pressures are over the frames whose energy is a
    label (None without any) and forces are weighted by their trust. Frames without trust keys
    count whole, as before.
    """
    if not frames:
        return {"energy_rmse_per_atom": None, "force_rmse": None, "n_structures": 0}
    de, fsse, fw, dp = [], 0.0, 0.0, []
    for ref in frames:
        e_ref, f_ref = ref.get_potential_energy(), ref.get_forces()
        atoms = ref.copy()
        atoms.calc = calc
        t_f = force_weights(ref)
        fsse += float(np.sum(t_f[:, None] * (atoms.get_forces() - f_ref) ** 2))
        fw += float(3 * t_f.sum())
        if energy_weight(ref) <= 0:
            continue
        de.append((atoms.get_potential_energy() - e_ref) / len(atoms))
        if "stress" in getattr(ref.calc, "results", {}) and atoms.pbc.all():  # pressure = -trace(stress) / 3
            dp.append(-(np.sum(atoms.get_stress(voigt=True)[:3]) - np.sum(ref.get_stress(voigt=True)[:3])) / 3)
    return {
        "energy_rmse_per_atom": float(np.sqrt(np.mean(np.square(de)))) if de else None,
        "force_rmse": float(np.sqrt(fsse / fw)) if fw > 0 else None,
        "n_structures": len(frames),
        "pressure_rmse_gpa": float(np.sqrt(np.mean(np.square(dp))) / units.GPa) if dp else None,
    }
