"""One score for every decision, on the rows the fit learns from and with the weights it gives them.

Basis choice, keep-the-best, prior errors and spot checks all ask "how wrong is this potential on
these labels?". They must ask it as the fit does, or a decision is taken on rows the fit never
learnt: a cut-out's energy and its boundary forces (core/label_weights.py: weight 0) are no
labels, and a score that counted them would choose a basis partly by untrained rows. The fit
(linear ACE: basis_ladder.row_weights / linear_ace.sample_weights; pacemaker: kappa, the same
weighting per structure) minimises

    sum over structures  w_E * N * t_E * de^2   +   sum over force components  t_F * df^2

with `de` the energy error per atom, `N` the structure's atoms, `w_E` the trainer's energy weight
(linear ACE `energy_weight`; pacemaker (1 - kappa) / kappa), `t_E`, `t_F` the trust weights of the
label. Each structure's energy is one row: it counts once, with the weight the fit gives it.

The score is that sum over the trusted force weight, square-rooted: eV/Å, equal to the trusted
force RMSE when the energies are exact. Errors reported next to it (`errors`) are RMSEs over the
trusted rows only: force components with t_F > 0 (weighted by t_F), energies of structures with
t_E > 0 (None when no structure's energy is a label).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from ase import Atoms

from ..core.label_weights import energy_weight as trust_energy
from ..core.label_weights import force_weights as trust_forces


def fit_energy_weight(trainer_cfg) -> float:
    """The trainer's weight of an energy row relative to a force component (per atom of the
    structure): linear ACE `energy_weight`, pacemaker (1 - kappa) / kappa, else 1."""
    if getattr(trainer_cfg, "energy_weight", None) is not None:
        return float(trainer_cfg.energy_weight)
    kappa = getattr(trainer_cfg, "kappa", None)
    if kappa is not None:
        kappa = min(max(float(kappa), 1e-6), 1 - 1e-6)
        return (1 - kappa) / kappa
    return 1.0


@dataclass
class WeightedErrors:
    """A potential's residuals on labelled structures, per structure, with the fit's row weights;
    kept per structure so a score can be resampled (bootstrap) or restricted (spot checks).

    energy_error:  [n] signed energy error per atom (eV/atom)
    energy_weight: [n] the fit's weight of the structure's energy row (w_E * N * t_E; 0: no label)
    force_sse:     [n] sum of t_F * df^2 over the structure's force components (eV²/Å²)
    force_weight:  [n] sum of t_F over them (with 0/1 trust: the number of trusted components)
    """

    energy_error: np.ndarray
    energy_weight: np.ndarray
    force_sse: np.ndarray
    force_weight: np.ndarray

    def __len__(self) -> int:
        return len(self.energy_error)

    def _idx(self, idx) -> np.ndarray:
        if idx is None:
            return np.arange(len(self))
        idx = np.asarray(idx)
        return np.flatnonzero(idx) if idx.dtype == bool else idx.astype(int)

    def score(self, idx=None) -> float | None:
        """sqrt((sum w_E N t_E de^2 + sum t_F df^2) / sum t_F) over structures `idx` (repeats
        allowed: a bootstrap sample); None without a trusted force component."""
        i = self._idx(idx)
        denominator = self.force_weight[i].sum()
        if denominator <= 0:
            return None
        loss = np.sum(self.energy_weight[i] * self.energy_error[i] ** 2) + self.force_sse[i].sum()
        return float(np.sqrt(loss / denominator))

    def errors(self, idx=None) -> dict:
        """RMSEs over the trusted rows of structures `idx`: energy per atom (structures whose energy
        is a label), force components (weighted by trust); plus the score and the counts."""
        i = self._idx(idx)
        labelled = i[self.energy_weight[i] > 0]
        fw = self.force_weight[i].sum()
        return {
            "energy_rmse_per_atom": float(np.sqrt(np.mean(self.energy_error[labelled] ** 2))) if len(labelled) else None,
            "force_rmse": float(np.sqrt(self.force_sse[i].sum() / fw)) if fw > 0 else None,
            "score": self.score(i),
            "n_structures": int(len(i)),
            "n_energy_labels": int(len(labelled)),
        }


def from_residuals(frames: Sequence[Atoms], energy_errors: Sequence[float], force_errors: Sequence[np.ndarray],
                   fit_energy_weight: float) -> WeightedErrors:
    """`WeightedErrors` of per-structure residuals: `energy_errors` per atom (eV/atom),
    `force_errors` [N_i, 3] (eV/Å), with the trust weights the `frames` carry."""
    ew, fsse, fw = [], [], []
    for atoms, df in zip(frames, force_errors):
        t_f = trust_forces(atoms)
        df = np.asarray(df, dtype=float).reshape(len(atoms), 3)
        ew.append(fit_energy_weight * len(atoms) * trust_energy(atoms))
        fsse.append(float(np.sum(t_f[:, None] * df ** 2)))
        fw.append(float(3 * t_f.sum()))
    return WeightedErrors(energy_error=np.asarray(energy_errors, dtype=float), energy_weight=np.asarray(ew),
                          force_sse=np.asarray(fsse), force_weight=np.asarray(fw))


def of_calculator(calc, frames: Sequence[Atoms], fit_energy_weight: float) -> WeightedErrors:
    """`WeightedErrors` of an ASE calculator on labelled `frames` (reference values: their
    SinglePointCalculator results; the potential must include the isolated-atom energies)."""
    de, df = [], []
    for ref in frames:
        work = ref.copy()
        work.calc = calc
        de.append((work.get_potential_energy() - ref.get_potential_energy()) / len(ref))
        df.append(work.get_forces() - ref.get_forces())
    return from_residuals(frames, de, df, fit_energy_weight)
