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

from ..scoring.fit_weights import fit_energy_weight, from_residuals
from ..domain_models.records import PriorErrors

log = logging.getLogger(__name__)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation (average ranks for ties); None with < 3 points or no spread."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    from scipy.stats import spearmanr

    rho = spearmanr(x, y).statistic
    return None if not np.isfinite(rho) else float(rho)


def force_rmse_by_group(weighted, frames: Sequence[Atoms], idx: Sequence[int], group_of) -> dict[str, float]:
    """Force RMSE (the fit's trusted rows) of frames `idx`, per group `group_of(atoms)` (a kind)."""
    groups: dict[str, list[int]] = {}
    for k in idx:
        groups.setdefault(str(group_of(frames[k])), []).append(k)
    out = {g: weighted.errors(np.array(ks))["force_rmse"] for g, ks in sorted(groups.items())}
    return {g: f for g, f in out.items() if f is not None}


def prior_errors(calc, frames: Sequence[Atoms], with_gamma: bool = True, energy_weight: float = 1.0,
                 group_of=None) -> PriorErrors:
    """Gamma (if `with_gamma`: the calculator has an active set) and errors of `calc` on labelled
    `frames`. Energies per atom in eV/atom, forces in eV/Å. Errors and the score are those of
    scoring/fit_weights on the rows the fit trusts (a cut-out's energy and boundary forces do not
    count), with the trainer's `energy_weight`; gamma is correlated with the errors of trusted atoms."""
    from ..components.ace.common import frame_labels, per_atom_gamma
    from ..core.label_weights import force_weights

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
        de_all.append(de)
        df_all.append(df)
        own = from_residuals([atoms], [de], [df], energy_weight).errors()
        trusted = force_weights(atoms) > 0
        top = None if gamma is None or not trusted.any() else float(np.max(np.asarray(gamma)[trusted]))
        per_structure.append({
            "index": i,
            "max_gamma": top,  # over the atoms whose forces are labels: what the force error is of
            "gamma": None if gamma is None else [round(float(g), 4) for g in gamma],
            "energy_error_per_atom": de,
            "energy_is_label": own["n_energy_labels"] == 1,
            "force_rmse": own["force_rmse"],
            "spot_check": bool(atoms.info.get("spot_check", False)),
            "condition": atoms.info.get("condition"),
        })
        if gamma is not None:
            atom_gamma += list(np.asarray(gamma)[trusted])
            atom_err += list(np.linalg.norm(df, axis=1)[trusted])
    out = {"n_structures": len(frames), "per_structure": per_structure}
    if frames:
        weighted = from_residuals(frames, de_all, df_all, energy_weight)
        overall = weighted.errors()
        out["energy_rmse_per_atom"] = overall["energy_rmse_per_atom"]
        out["force_rmse"] = overall["force_rmse"]
        out["score"] = overall["score"]
        if group_of is not None:
            out["force_rmse_by_group"] = force_rmse_by_group(weighted, frames, range(len(frames)), group_of)
        out["spearman_atoms"] = spearman(atom_gamma, atom_err)
        rows = [p for p in per_structure if p["max_gamma"] is not None and p["force_rmse"] is not None]
        out["spearman_structures"] = spearman([p["max_gamma"] for p in rows], [p["force_rmse"] for p in rows]) \
            if with_gamma else None
        spot = [k for k, p in enumerate(per_structure) if p["spot_check"]]
        if spot:
            spot_errors = weighted.errors(np.array(spot))
            out["spot_check"] = {key: spot_errors[key] for key in
                                 ("n_structures", "energy_rmse_per_atom", "force_rmse", "score", "n_energy_labels")}
            if group_of is not None:
                out["spot_check"]["force_rmse_by_group"] = force_rmse_by_group(weighted, frames, spot, group_of)
    return PriorErrors.model_validate(out)


def prior_errors_of(trainer, previous, new_labels_file: str, group_of=None) -> PriorErrors | None:
    """`prior_errors` of the previous potential on this stage's new labels (without gamma when the
    trainer's potential has none, e.g. the mock trainer); None when there are no new labels.
    `group_of(atoms)`: the kind a frame's errors are also grouped by (spot checks per kind)."""
    from ..core.io import read_structures

    frames = read_structures(new_labels_file)
    if not frames:
        return None
    energy_weight = fit_energy_weight(trainer.cfg)
    try:
        return prior_errors(trainer.calculator(previous, with_gamma=True), frames, energy_weight=energy_weight,
                            group_of=group_of)
    except (ValueError, FileNotFoundError) as exc:  # no extrapolation grade (e.g. the mock trainer)
        log.info("prior errors of %s without gamma: %s", new_labels_file, exc)
        return prior_errors(trainer.calculator(previous), frames, with_gamma=False, energy_weight=energy_weight,
                            group_of=group_of)
