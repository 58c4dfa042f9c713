"""Error metrics of a potential against labelled structures."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import units

from .label_weights import energy_weight, force_weights


def rmse_metrics(calc, frames: Sequence, group_by: str | None = None) -> dict:
    """Energy RMSE per atom (eV/atom), force-component RMSE (eV/Å) and, over the 3D-periodic frames
    that carry a stress label, pressure RMSE (GPa; None without any) of `calc` on `frames`.

    Frames carry their reference labels as SinglePointCalculator results. Energies are compared
    as totals, so the potential must include the isolated-atom reference energies it was fitted
    without (ACE yaml files carry them as E0 shifts).

    Only what is a label counts (core/label_weights.py): a cut-out's energy (and stress) and its
    boundary forces are not, so energies and pressures are over the frames whose energy is a
    label (None without any) and forces are weighted by their trust. Frames without trust keys
    count whole, as before.
    With `group_by` (an info key, e.g. 'kind') the result also has `by_<group_by>`: the same metrics
    per value of that key over the frames that carry it (each frame is evaluated once).
    """
    if not frames:
        return {"energy_rmse_per_atom": None, "force_rmse": None, "n_structures": 0}
    errors = [_frame_errors(calc, ref) for ref in frames]
    out = _aggregate(errors)
    if group_by is not None:
        groups: dict[str, list] = {}
        for ref, err in zip(frames, errors):
            if ref.info.get(group_by) is not None:
                groups.setdefault(str(ref.info[group_by]), []).append(err)
        if groups:
            out[f"by_{group_by}"] = {k: _aggregate(v) for k, v in groups.items()}
    return out


def _frame_errors(calc, ref) -> tuple[float | None, float, float, float | None]:
    """One frame's (energy error per atom or None when its energy is not a label, trust-weighted sum
    of squared force-component errors, its weight, pressure error or None)."""
    e_ref, f_ref = ref.get_potential_energy(), ref.get_forces()
    atoms = ref.copy()
    atoms.calc = calc
    t_f = force_weights(ref)
    fsse = float(np.sum(t_f[:, None] * (atoms.get_forces() - f_ref) ** 2))
    fw = float(3 * t_f.sum())
    if energy_weight(ref) <= 0:
        return None, fsse, fw, None
    de = (atoms.get_potential_energy() - e_ref) / len(atoms)
    dp = None
    if "stress" in getattr(ref.calc, "results", {}) and atoms.pbc.all():  # pressure = -trace(stress) / 3
        dp = -(np.sum(atoms.get_stress(voigt=True)[:3]) - np.sum(ref.get_stress(voigt=True)[:3])) / 3
    return de, fsse, fw, dp


def _aggregate(errors: list) -> dict:
    de = [e[0] for e in errors if e[0] is not None]
    fsse, fw = sum(e[1] for e in errors), sum(e[2] for e in errors)
    dp = [e[3] for e in errors if e[3] is not None]
    return {
        "energy_rmse_per_atom": float(np.sqrt(np.mean(np.square(de)))) if de else None,
        "force_rmse": float(np.sqrt(fsse / fw)) if fw > 0 else None,
        "n_structures": len(errors),
        "pressure_rmse_gpa": float(np.sqrt(np.mean(np.square(dp))) / units.GPa) if dp else None,
    }
