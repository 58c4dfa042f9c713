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
    ) -> dict:
        """Fit on all of `dataset`, write potential.yaml/.yace/.asi in `out_dir`, return metrics.

        The yaml is renamed into place last, after the yace and asi derived from it exist and its
        training errors are checked, so a present potential.yaml means a complete, finite potential.
        """
        t0 = time.perf_counter()
        if not dataset:
            raise TrainingError("no training structures")
        check_labels_finite(dataset)
        elements = sorted({s for atoms in dataset for s in atoms.get_chemical_symbols()})
        df = frames_to_dataframe(dataset, reference_energies)

        basis_cfg = self.cfg.basis
        ladder = None
        if self.cfg.ladder is not None:
            rows_in = None if previous is None else Path(previous.yaml).parent / DESIGN_ROWS
            ladder = fit_ladder(dataset, df, elements, self.cfg, _available_cpus(), previous_holdout_fit(previous),
                                rows_in=rows_in, rows_out=Path(out_dir) / DESIGN_ROWS)
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
        log.info("linear ACE fit: %d structures, %d functions, E %.2f meV/atom, F %.1f meV/Å, %.1f s",
                 metrics["n_structures"], metrics["n_functions"], 1e3 * (metrics["train_energy_rmse_per_atom"] or np.nan),
                 1e3 * metrics["train_force_rmse"], metrics["wall_time_s"])
        return metrics

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
