"""Linear ACE trainer: a weighted least-squares fit of the B-basis coefficients (seconds per fit).

With a linear embedding (F(rho) = rho, one density) the ACE energy is linear in the basis
coefficients, so `pyace.linearacefit` builds the design matrix (per-atom energy rows and force
component rows) and solves it with the weighted ridge of ridge.py. The fit is closed-form and always starts
from scratch: `previous` and `seed` do not change the result.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from ...core.errors import TrainingError
from ...core.label_weights import row_weight_factors
from ...domain_models.config import LinearAceTrainerConfig
from ..base import PotentialFiles
from ..ace.common import (
    write_potential_files,
    check_labels_finite,
    preserve_root_logging,
    ace_calculator,
    build_basis_config,
    compute_number_of_functions,
    frames_to_dataframe,
    set_reference_energies,
)

from .basis_ladder import check_design_matrix, fit_ladder
from .holdout import previous_holdout_fit
from .design_rows import FILE_NAME as DESIGN_ROWS
from .core_repulsion import add_zbl_core_repulsion
from .ridge import weighted_ridge
from .prior_fit import CheapPrior, shift_between_levels

with preserve_root_logging():
    from pyace import ACEBBasisSet, BBasisConfiguration
    from pyace.linearacefit import LinearACEDataset

log = logging.getLogger(__name__)



def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def sample_weights(n_atoms: np.ndarray, energy_weight: float) -> np.ndarray:
    """Row weights for the design matrix [energy-per-atom rows..., force-component rows...].

    Each energy row weighs `energy_weight * N_atoms`, each force component 1. Per structure this is
    pacemaker's uniform weighting with kappa = 1 / (1 + energy_weight): without the N factor, the
    3N force rows of a structure would drown its single energy row.
    """
    energy_rows = energy_weight * n_atoms.astype(float)
    force_rows = np.ones(int(3 * n_atoms.sum()))
    return np.concatenate([energy_rows, force_rows])


class LinearAceTrainer:
    """`Trainer` for linear ACE (see module docstring)."""

    def __init__(self, cfg: LinearAceTrainerConfig):
        self.cfg = cfg

    # -- Trainer protocol ----------------------------------------------------------------------
    def fit(
        self,
        dataset: Sequence[Atoms],
        out_dir: Path,
        reference_energies: dict[str, float],
        previous: PotentialFiles | None,
        seed: int,
        prior: CheapPrior | None = None,
    ) -> dict:
        """Fit on all of `dataset`, write potential.yaml/.yace/.asi in `out_dir`, return metrics.

        The yaml is renamed into place last, after the yace and asi derived from it exist and its
        training errors are checked, so a present potential.yaml means a complete, finite potential.

        `prior` (two-level labelling): the cheap labels, fitted first and used as the coefficient prior
        of every rung's fit to `dataset` (prior_fit.py); their energies are first put on the expensive
        level's zero (prior_fit.shift_between_levels). Needs the basis ladder (its held-out share
        chooses `prior_strength: auto`).
        """
        t0 = time.perf_counter()
        if not dataset:
            raise TrainingError("no training structures")
        check_labels_finite(dataset)
        elements = sorted({s for atoms in dataset for s in atoms.get_chemical_symbols()})
        df = frames_to_dataframe(dataset, reference_energies)

        basis_cfg = self.cfg.basis
        ladder = None
        two_level = None
        if prior is not None:
            if self.cfg.ladder is None:
                raise TrainingError("a two-level fit (cheap_oracle) needs trainer.ladder: its held-out share chooses "
                                    "the prior strength")
            prior_df, two_level = self.prior_dataframe(dataset, prior, reference_energies)
        if self.cfg.ladder is not None:
            rows_in = None if previous is None else Path(previous.yaml).parent / DESIGN_ROWS
            ladder = fit_ladder(dataset, df, elements, self.cfg, _available_cpus(), previous_holdout_fit(previous),
                                rows_in=rows_in, rows_out=Path(out_dir) / DESIGN_ROWS,
                                prior=None if prior is None else (prior_df, prior.prior_strength))
            bbasis = ladder.basis
        else:
            bconf = build_basis_config(elements, basis_cfg.cutoff, basis_cfg.number_of_functions_per_element,
                                       basis_cfg.max_order, linear=True)
            bbasis = self.solve_basis(bconf, df)
        if ladder is not None and ladder.keep_previous:
            fitted = BBasisConfiguration(str(previous.yaml))  # the earlier best, with an active set of all labels
        else:
            fitted = bbasis.to_BBasisConfiguration()
            set_reference_energies(fitted, {el: reference_energies[el] for el in elements})
            if self.cfg.repulsion == "zbl":
                r_in = add_zbl_core_repulsion(fitted, dataset, elements)

        train = write_potential_files(fitted, df, dataset, out_dir)
        metrics = {
            "trainer": "linear_ace",
            "train_energy_rmse_per_atom": train["energy_rmse_per_atom"],
            "train_force_rmse": train["force_rmse"],
            "n_structures": len(dataset),
            "n_atoms": int(df["NUMBER_OF_ATOMS"].sum()),
            "n_functions": int(sum(compute_number_of_functions(bbasis))),
            "elements": elements,
            "wall_time_s": time.perf_counter() - t0,
        }
        if self.cfg.repulsion == "zbl" and not (ladder is not None and ladder.keep_previous):
            metrics["zbl_r_in"] = r_in
        if ladder is not None:
            if ladder.record.holdout_fit is not None and ladder.record.holdout_fit.stage is None:
                ladder.record.holdout_fit.stage = Path(out_dir).name
            metrics["ladder"] = ladder.record.model_dump()
            if ladder.keep_previous:
                metrics["n_functions"] = int(sum(compute_number_of_functions(ACEBBasisSet(str(previous.yaml)))))
        if two_level is not None and ladder.prior is not None:
            p = ladder.prior
            two_level.update(prior_strength=p.prior_strength, chosen_by=p.chosen_by)
            if p.choice is not None:
                two_level.update(grid=p.choice.grid, scores=p.choice.scores, cheap_only_score=p.choice.cheap_only_score,
                                 expensive_only_score=p.choice.expensive_only_score, margin=p.choice.margin or None)
            metrics["two_level"] = two_level
            log.info("two-level fit: %d cheap labels as the prior, lambda %.3g (%s), energy shift by %s",
                     two_level["n_cheap_structures"], p.prior_strength, p.chosen_by, two_level["shift_method"])
        log.info("linear ACE fit: %d structures, %d functions, E %.2f meV/atom, F %.1f meV/Å, %.1f s",
                 metrics["n_structures"], metrics["n_functions"], 1e3 * (metrics["train_energy_rmse_per_atom"] or np.nan),
                 1e3 * metrics["train_force_rmse"], metrics["wall_time_s"])
        return metrics

    def prior_dataframe(self, dataset, prior: CheapPrior, reference_energies: dict[str, float]):
        """The cheap labels as a DataFrame with their energies on the expensive zero, and the start of the
        record (`fit.two_level` of train.json: the shift and how many labels)."""
        if not prior.frames:
            raise TrainingError("two-level fit: no cheap labels (every cheap calculation failed?)")
        check_labels_finite(prior.frames)
        shift, n_both = shift_between_levels(dataset, prior.frames, reference_energies, prior.isolated)
        prior_df = frames_to_dataframe(prior.frames, reference_energies)
        offsets = np.array([shift.of(a) for a in prior.frames])
        prior_df["energy"] = prior_df["energy"] + offsets
        prior_df["energy_corrected"] = prior_df["energy_corrected"] + offsets
        return prior_df, {"method": "coefficient_prior", "n_cheap_structures": len(prior.frames),
                          "shift_method": shift.method, "shift_per_element": shift.per_element, "n_both_levels": n_both}

    def calculator(self, potential: PotentialFiles, with_gamma: bool = False) -> Calculator:
        return ace_calculator(potential, with_gamma=with_gamma)

    def solve_basis(self, bconf, df):
        """Weighted ridge solve of the fixed basis `bconf` (no ladder); returns the fitted
        ACEBBasisSet. Also the pacemaker trainer's linear start."""
        dataset = LinearACEDataset(bconf, df)
        dataset.construct_design_matrix(max_workers=min(_available_cpus(), len(df)))
        check_design_matrix(np.asarray(dataset.get_design_matrix()), len(df))

        weights = sample_weights(df["NUMBER_OF_ATOMS"].to_numpy(), self.cfg.energy_weight)
        weights = weights * row_weight_factors(list(df["ase_atoms"]))  # cut-outs: core forces only
        basis = dataset.basis
        basis.basis_coeffs = weighted_ridge(np.asarray(dataset.get_design_matrix()), dataset.get_target_vector(),
                                            weights, self.cfg.ridge_alpha)
        return basis
