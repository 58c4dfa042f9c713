"""How well the potential that chose a batch knew it: gamma and error before the batch is learnt.

Before each fit, the previous potential (the one that explored and selected this iteration's
structures) is evaluated on the freshly labelled structures. Per structure this keeps its max and
per-atom extrapolation grade and its energy/force error against the new label. That is

* the evidence that gamma ranks real errors (Spearman rank correlation of per-atom gamma against
  per-atom force error, and of max gamma against the structure's force RMSE), which is what
  `gamma_select`/`gamma_halt` rely on, and
* the spot-check result: when the structures are spot checks (frames sampled from γ-converged
  explorations), their errors are the honest accuracy of the potential the loop would have ended with.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from ase import Atoms

log = logging.getLogger(__name__)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation (average ranks for ties); None with < 3 points or no spread."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    from scipy.stats import spearmanr

    rho = spearmanr(x, y).statistic
    return None if not np.isfinite(rho) else float(rho)


def prior_errors(calc, frames: Sequence[Atoms], with_gamma: bool = True) -> dict:
    """Gamma (if `with_gamma`: the calculator has an active set) and errors of `calc` on labelled
    `frames`. Energies per atom in eV/atom, forces in eV/Å."""
    from ..components.ace.common import frame_labels, per_atom_gamma

    per_structure = []
    atom_gamma, atom_err = [], []
    de_all, df_all = [], []
    for i, atoms in enumerate(frames):
        energy, forces, _ = frame_labels(atoms)
        work = atoms.copy()
        work.calc = calc
        gamma = per_atom_gamma(calc, work) if with_gamma else None
        e_pred = float(work.get_potential_energy())
        f_pred = np.asarray(work.get_forces())
        df = f_pred - forces
        de = (e_pred - energy) / len(atoms)
        per_structure.append({
            "index": i,
            "max_gamma": None if gamma is None else float(np.max(gamma)),
            "gamma": None if gamma is None else [round(float(g), 4) for g in gamma],
            "energy_error_per_atom": de,
            "force_rmse": float(np.sqrt(np.mean(df ** 2))),
            "spot_check": bool(atoms.info.get("spot_check", False)),
            "condition": atoms.info.get("condition"),
        })
        if gamma is not None:
            atom_gamma += list(gamma)
            atom_err += list(np.linalg.norm(df, axis=1))
        de_all.append(de)
        df_all.append(df.ravel())
    out = {"n_structures": len(frames), "per_structure": per_structure}
    if frames:
        out["energy_rmse_per_atom"] = float(np.sqrt(np.mean(np.square(de_all))))
        out["force_rmse"] = float(np.sqrt(np.mean(np.concatenate(df_all) ** 2)))
        out["spearman_atoms"] = spearman(atom_gamma, atom_err)
        out["spearman_structures"] = spearman([p["max_gamma"] for p in per_structure],
                                              [p["force_rmse"] for p in per_structure]) if with_gamma else None
    spot = [k for k, p in enumerate(per_structure) if p["spot_check"]]
    if spot:
        out["spot_check"] = {
            "n_structures": len(spot),
            "energy_rmse_per_atom": float(np.sqrt(np.mean([de_all[k] ** 2 for k in spot]))),
            "force_rmse": float(np.sqrt(np.mean(np.concatenate([df_all[k] for k in spot]) ** 2))),
        }
    return out


def prior_errors_of(trainer, previous, new_labels_file: str) -> dict | None:
    """`prior_errors` of the previous potential on this stage's new labels (without gamma when the
    trainer's potential has none, e.g. the mock trainer); None when there are no new labels."""
    from ..core.io import read_structures

    frames = read_structures(new_labels_file)
    if not frames:
        return None
    try:
        return prior_errors(trainer.calculator(previous, with_gamma=True), frames)
    except (ValueError, FileNotFoundError) as exc:  # no extrapolation grade (e.g. the mock trainer)
        log.info("prior errors of %s without gamma: %s", new_labels_file, exc)
        return prior_errors(trainer.calculator(previous), frames, with_gamma=False)
