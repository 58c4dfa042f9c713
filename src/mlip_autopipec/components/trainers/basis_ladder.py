"""Capacity that grows with the data: pick the linear ACE basis from a ladder of sizes.

A fixed basis is either too large for the first few dozen labels (it interpolates noise between
them) or too small once the data covers more (every strategy then sits on the same error floor).
So every fit tries each rung of a ladder (functions per element, body order, radial/angular
limits) and keeps the one with the lowest error on a *held-out share* of the labels.

* The held-out share is a fixed split: a structure belongs to it by a hash of its content, so it
  stays in it in every later iteration (the validation set is never used here).
* Every rung is a subset of the largest rung's functions (pyace orders functions by the same
  ladder criterion whatever the budget), so one design matrix of the largest rung serves all:
  a rung is a choice of columns, and trying it costs one small least-squares solve.
* A rung is allowed only if each element has at least `envs_per_function` atomic environments per
  basis function in the fitted part, so MaxVol's active set (square, full rank) stays well posed.
* Keep the best: the shipped potential is refitted on all labels with the chosen rung, and the
  fit on the non-held-out part (its stand-in that never saw the held-out share) is stored in the
  train record. The next fit scores that stored fit on its own, larger held-out share; if the
  earlier one is better there, the earlier potential is kept (with an active set of all labels).
* The split, the pick, the fall-back, keep-the-best and the record are the shared ladder's
  (ladder.py); this module supplies its hooks (`LinearLadder`): the design matrix, a rung's solve
  and its errors.
* Virial rows (stress, where the oracle gives it) are central finite differences of the energy
  rows under a small strain, weighted by `stress_weight`: the linear fit then also learns how the
  energy changes with volume and shape, which the MD frames at one density barely constrain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from ase import Atoms

from ...core.label_weights import row_weight_factors
from ...core.errors import TrainingError
from ..ace.common import ace_potential_config, preserve_root_logging
from ...core.identity import structure_hash
from .design_rows import StructureRows, basis_fingerprint
from ...scoring.fit_weights import WeightedErrors
from .holdout import holdout_mask  # noqa: F401  (re-exported for the tests)
from .ladder import Ladder, PreviousScore
from .ridge import weighted_ridge
from .prior_fit import PriorStrengthChoice, choose_prior_strength, fit_correction, prior_strength_grid
from ...domain_models.records import HoldoutStandIn, LadderRecord, LadderRung
from . import design_rows as row_store

with preserve_root_logging():
    from pyace import ACEBBasisSet, create_multispecies_basis_config
    from pyace.linearacefit import LinearACEDataset

log = logging.getLogger(__name__)

VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))  # ASE's stress order xx yy zz yz xz xy
STRAIN_STEP = 1e-4  # finite-difference strain for the virial rows (energies are smooth: error ~1e-8)


# --------------------------------------------------------------------------------------------
# Basis of a rung
# --------------------------------------------------------------------------------------------
def rung_potential_config(elements: Sequence[str], cutoff: float, rung) -> dict:
    """pacemaker `potential:` section of one rung (linear embedding)."""
    cfg = ace_potential_config(elements, cutoff, rung.number_of_functions_per_element, rung.max_order, linear=True)
    cfg["functions"]["ALL"] = {
        "nradmax_by_orders": list(rung.nradmax_by_orders[: rung.max_order]),
        "lmax_by_orders": list(rung.lmax_by_orders[: rung.max_order]),
    }
    return cfg


def rung_basis_config(elements: Sequence[str], cutoff: float, rung):
    with preserve_root_logging():
        return create_multispecies_basis_config(rung_potential_config(elements, cutoff, rung))


def function_keys(basis: ACEBBasisSet) -> list[tuple]:
    """One hashable key per basis function, in design-matrix column order (per element: rank 1
    functions, then higher ranks; pyace's `compute_nfunc_func_ind_shift` order)."""
    keys = []
    for st, (rank1, higher) in enumerate(zip(basis.basis_rank1, basis.basis)):
        for f in list(rank1) + list(higher):
            keys.append((st, tuple(f.mus), tuple(f.ns), tuple(f.ls), tuple(map(tuple, f.ms_combs))))
    return keys


def rung_columns(pool: ACEBBasisSet, rung_basis: ACEBBasisSet) -> np.ndarray | None:
    """Columns of the pool's design matrix that make up `rung_basis`; None if it is no subset."""
    index = {k: i for i, k in enumerate(function_keys(pool))}
    keys = function_keys(rung_basis)
    if any(k not in index for k in keys):
        return None
    return np.array([index[k] for k in keys], dtype=int)


def functions_per_element(basis: ACEBBasisSet) -> dict[str, int]:
    return {el: len(basis.basis_rank1[st]) + len(basis.basis[st])
            for el, st in basis.elements_to_index_map.items()}


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
@dataclass
class DesignMatrix:
    """Rows [energy per atom of each structure..., force components..., virial rows...]."""

    X: np.ndarray
    y: np.ndarray
    n_atoms: np.ndarray
    stress_rows: np.ndarray  # [n_structures, 6] row indices (or -1 when the structure has no stress)
    volumes: np.ndarray

    @property
    def n_structures(self) -> int:
        return len(self.n_atoms)

    def rows_of(self, structures: np.ndarray, with_stress: bool = True) -> np.ndarray:
        """Row indices of the given structures (boolean mask or indices)."""
        idx = np.flatnonzero(structures) if structures.dtype == bool else np.asarray(structures)
        starts = self.n_structures + 3 * np.concatenate([[0], np.cumsum(self.n_atoms)[:-1]])
        rows = [idx]
        rows += [np.arange(starts[i], starts[i] + 3 * self.n_atoms[i]) for i in idx]
        if with_stress:
            rows += [self.stress_rows[i][self.stress_rows[i] >= 0] for i in idx]
        return np.concatenate(rows).astype(int)


def _energy_rows(basis: ACEBBasisSet, atoms_list: list[Atoms]) -> np.ndarray:
    """Per-atom energy design rows (binding-energy projections / N), projections only: no
    gradients, so a strained copy costs about one energy evaluation."""
    from pyace import ACEBEvaluator, ACECalculator
    from pyace.atomicenvironment import aseatoms_to_atomicenvironment
    from pyace.linearacefit import compute_nfunc_func_ind_shift

    evaluator = ACEBEvaluator(basis)  # must outlive the calculator (pyace keeps a raw pointer)
    calc = ACECalculator(evaluator)
    nfunc, shift = compute_nfunc_func_ind_shift(basis)
    rows = np.zeros((len(atoms_list), nfunc))
    for k, atoms in enumerate(atoms_list):
        ae = aseatoms_to_atomicenvironment(atoms, cutoff=basis.cutoffmax, elements_mapper_dict=basis.elements_to_index_map)
        calc.compute(ae, compute_projections=True)
        for st, proj in zip(ae.species_type, calc.projections):
            rows[k, shift[st]:shift[st] + len(proj)] += proj
        rows[k] /= ae.n_atoms_real
    return rows


def check_design_matrix(X: np.ndarray, n_structures: int) -> None:
    """pyace fills the design matrix in worker processes that fail silently (their rows stay zero)."""
    if not np.isfinite(X).all():
        raise TrainingError("ACE design matrix contains non-finite values")
    if np.any(np.all(X[:n_structures] == 0.0, axis=1)):
        raise TrainingError("ACE design matrix has empty energy rows (a worker process failed)")


def balanced_order(n_atoms: Sequence[int], workers: int) -> np.ndarray:
    """An order of the structures in which pyace's split into `workers` contiguous chunks of equal
    count (np.array_split) gives each worker about the same number of atoms.

    pyace splits by count, so an initial set listed as 13 copies of a 32-atom cell, then 13 of a
    108-atom one gave one of two workers all the large cells (the Cu demo's first fit: 27 s, the
    work of one core). Largest first, each structure goes to the chunk with the fewest atoms that
    still has room."""
    n_atoms = np.asarray(n_atoms)
    sizes = [len(c) for c in np.array_split(np.arange(len(n_atoms)), max(1, workers))]
    chunks: list[list[int]] = [[] for _ in sizes]
    load = np.zeros(len(sizes))
    for i in sorted(range(len(n_atoms)), key=lambda i: (-n_atoms[i], i)):
        open_chunks = [k for k in range(len(sizes)) if len(chunks[k]) < sizes[k]]
        k = min(open_chunks, key=lambda k: (load[k], k))
        chunks[k].append(i)
        load[k] += n_atoms[i]
    return np.array([i for c in chunks for i in sorted(c)], dtype=int)


def _fresh_rows(basis: ACEBBasisSet, df: pd.DataFrame, max_workers: int, virial_for: list[bool]) -> list[StructureRows]:
    """Rows of the structures of `df` from pyace (energy and forces) and finite differences (virials)."""
    workers = max(1, min(max_workers, len(df)))
    order = balanced_order(df["NUMBER_OF_ATOMS"].to_numpy(), workers)
    rows = _pyace_rows(basis, df.iloc[order].reset_index(drop=True), workers,
                       [virial_for[i] for i in order])
    out: list[StructureRows] = [None] * len(df)  # type: ignore[list-item]
    for pos, i in enumerate(order):
        out[i] = rows[pos]
    return out


def _pyace_rows(basis: ACEBBasisSet, df: pd.DataFrame, workers: int, virial_for: list[bool]) -> list[StructureRows]:
    ds = LinearACEDataset(basis, df)
    ds.construct_design_matrix(max_workers=workers)
    X = np.array(ds.get_design_matrix())
    n_struct = len(df)
    check_design_matrix(X, n_struct)
    n_atoms = df["NUMBER_OF_ATOMS"].to_numpy()
    starts = n_struct + 3 * np.concatenate([[0], np.cumsum(n_atoms)[:-1]])
    out = [StructureRows(energy=X[i].copy(), forces=X[starts[i]:starts[i] + 3 * n_atoms[i]].copy(), virial=None)
           for i in range(n_struct)]
    idx = [i for i, v in enumerate(virial_for) if v]
    if idx:
        strained = []
        for i in idx:
            atoms = df["ase_atoms"].iloc[i]
            for a, b in VOIGT:
                for sign in (1, -1):
                    eps = np.zeros((3, 3))  # symmetric; engineering shear strain for a != b
                    eps[a, b] = eps[b, a] = sign * STRAIN_STEP * (1.0 if a == b else 0.5)
                    s = atoms.copy()
                    s.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
                    strained.append(s)
        e_rows = _energy_rows(basis, strained).reshape(len(idx), 6, 2, -1)
        # virial row: -dE/d(eps) = -N * d(E/N)/d(eps); the label: -stress * V (ASE: stress = dE/deps / V)
        n = n_atoms[idx][:, None, None]
        rows = -n * (e_rows[:, :, 0, :] - e_rows[:, :, 1, :]) / (2 * STRAIN_STEP)
        for k, i in enumerate(idx):
            out[i].virial = rows[k]
    return out


def design_matrix(basis: ACEBBasisSet, df: pd.DataFrame, max_workers: int, with_stress: bool,
                  known: dict[str, StructureRows] | None = None) -> tuple[DesignMatrix, dict[str, StructureRows]]:
    """Energy and force rows from pyace, plus virial rows (stress * volume, eV) for structures that
    carry a stress label when `with_stress`. Rows in `known` (by core.identity.structure_hash) are reused; the
    second return value holds the rows of every structure of `df`, for the next fit."""
    known = known or {}
    frames = list(df["ase_atoms"])
    keys = [structure_hash(a) for a in frames]
    n_atoms = df["NUMBER_OF_ATOMS"].to_numpy()
    volumes = np.array([abs(a.get_volume()) if a.pbc.all() else 0.0 for a in frames])
    has_stress = [with_stress and s is not None and volumes[i] > 0 for i, s in enumerate(df["stress"])]
    missing = [i for i, k in enumerate(keys)
               if k not in known or (has_stress[i] and known[k].virial is None)]
    rows: dict[str, StructureRows] = {}
    if missing:
        fresh = _fresh_rows(basis, df.iloc[missing].reset_index(drop=True), max_workers,
                            [has_stress[i] for i in missing])
        computed = dict(zip((keys[i] for i in missing), fresh))
    else:
        computed = {}
    log.info("design rows: %d structures computed, %d reused from the previous fit", len(missing),
             len(frames) - len(missing))
    for k in keys:
        rows[k] = computed.get(k) or known[k]
    per = [rows[k] for k in keys]
    X = np.vstack([np.array([r.energy for r in per])] + [r.forces for r in per])
    y = np.concatenate([df["energy_corrected"].to_numpy(dtype=float) / n_atoms,
                        np.vstack(list(df["forces"])).reshape(-1)])
    n_struct = len(df)
    stress_rows = -np.ones((n_struct, 6), dtype=int)
    idx = [i for i, h in enumerate(has_stress) if h]
    if idx:
        start = X.shape[0]
        X = np.vstack([X] + [per[i].virial for i in idx])
        y = np.concatenate([y] + [-np.asarray(df["stress"].iloc[i], dtype=float) * volumes[i] for i in idx])
        for k, i in enumerate(idx):
            stress_rows[i] = start + 6 * k + np.arange(6)
    return DesignMatrix(X=X, y=y, n_atoms=n_atoms, stress_rows=stress_rows, volumes=volumes), rows


def row_weights(dm: DesignMatrix, energy_weight: float, stress_weight: float,
                frames: Sequence[Atoms] | None = None) -> np.ndarray:
    """Energy row of a structure: `energy_weight * N` (see linear_ace.sample_weights); force
    components: 1; each of its 6 virial components (eV): `stress_weight / N`, i.e. a virial error of
    N*x eV costs as much as an energy error of x eV/atom weighted by `stress_weight / energy_weight`."""
    w = np.ones(dm.X.shape[0])
    w[: dm.n_structures] = energy_weight * dm.n_atoms
    for i in range(dm.n_structures):
        rows = dm.stress_rows[i][dm.stress_rows[i] >= 0]
        w[rows] = stress_weight / dm.n_atoms[i]
    if frames is not None:  # cut-outs: only core forces are labels; their energy and stress are not
        trust = row_weight_factors(frames)
        n_ef = len(trust)
        w[:n_ef] *= trust
        for i, factor in enumerate(trust[: dm.n_structures]):
            rows = dm.stress_rows[i][dm.stress_rows[i] >= 0]
            w[rows] *= factor
    return w


def over_force_cap(forces, cap: float | None) -> np.ndarray:
    """Per structure: True if its largest label force component exceeds `cap` (eV/Å; None: never)."""
    if cap is None:
        return np.zeros(len(forces), dtype=bool)
    return np.array([float(np.max(np.abs(f))) > cap for f in forces], dtype=bool)


def capped_rows(dm: DesignMatrix, forces, cap: float | None) -> np.ndarray:
    """Row factors: 0 for every row (energy, forces, virials) of a structure over `trainer.force_cap`, else 1."""
    factor = np.ones(dm.X.shape[0])
    over = over_force_cap(forces, cap)
    if over.any():
        factor[dm.rows_of(over)] = 0.0
        log.info("force cap %g eV/Å: %d of %d labels not fitted (largest force above it)", cap, int(over.sum()),
                 len(over))
    return factor


# --------------------------------------------------------------------------------------------
# Solve and score
# --------------------------------------------------------------------------------------------
def structure_errors(dm: DesignMatrix, weights: np.ndarray, structures: np.ndarray, cols: np.ndarray,
                     coef: np.ndarray) -> WeightedErrors:
    """Residuals of `structures` per structure with the fit's own row `weights` (row_weights: trust
    and energy weight included), so every decision scores what the fit learns (scoring/fit_weights)."""
    idx = np.flatnonzero(structures) if structures.dtype == bool else np.asarray(structures)
    de, ew, fsse, fw = [], [], [], []
    for i in idx:
        rows = dm.rows_of(np.array([i]), with_stress=False)
        res = dm.X[np.ix_(rows, cols)] @ coef - dm.y[rows]
        w = weights[rows]
        de.append(res[0])
        ew.append(w[0])
        fsse.append(float(np.sum(w[1:] * res[1:] ** 2)))
        fw.append(float(np.sum(w[1:])))
    return WeightedErrors(energy_error=np.array(de), energy_weight=np.array(ew), force_sse=np.array(fsse),
                          force_weight=np.array(fw))


def errors(dm: DesignMatrix, weights: np.ndarray, structures: np.ndarray, cols: np.ndarray, coef: np.ndarray) -> dict:
    """What the train record keeps of a fit on `structures`: the score and RMSEs over the trusted
    rows (`structure_errors(...).errors()`), and the pressure RMSE (GPa) of the structures whose
    energy and stress are labels (None without any)."""
    idx = np.flatnonzero(structures) if structures.dtype == bool else np.asarray(structures)
    out = structure_errors(dm, weights, idx, cols, coef).errors()
    out["pressure_rmse_gpa"] = None
    with_s = [i for i in idx if dm.stress_rows[i][0] >= 0 and weights[i] > 0]
    if with_s:
        dp = []
        for i in with_s:
            r = dm.stress_rows[i][:3]
            virial = dm.X[np.ix_(r, cols)] @ coef - dm.y[r]
            dp.append(np.mean(virial) / dm.volumes[i])  # -pressure error * 1, eV/Å^3
        out["pressure_rmse_gpa"] = float(np.sqrt(np.mean(np.square(dp))) * 160.21766)
    return out


@dataclass
class PriorRows:
    """Two-level labelling: the cheap labels' rows (energies already on the expensive zero) and lambda."""

    dm: DesignMatrix
    weights: np.ndarray
    prior_strength: float | str  # "auto" or lambda


@dataclass
class RungPrior:
    """The prior of one rung: c_L on its columns and the lambda used with it (and, with auto, the search)."""

    cheap_coef: np.ndarray
    prior_strength: float
    chosen_by: str  # "auto", "auto, nothing held out", "given"
    choice: PriorStrengthChoice | None = None


@dataclass
class LadderFit:
    """Outcome of one ladder fit: the shipped coefficients and what the train record keeps."""

    rung_index: int
    basis: ACEBBasisSet  # the chosen rung's basis with the coefficients fitted on all labels
    record: LadderRecord  # choice, per-rung scores, the held-out-share stand-in
    keep_previous: bool = False
    prior: RungPrior | None = None  # two-level: the chosen rung's prior


class LinearLadder(Ladder):
    """The hooks of the shared ladder (ladder.py) for linear ACE: a rung is a choice of columns of
    one design matrix, its fit a weighted ridge solve on the fitted part's rows."""

    def __init__(self, frames, dm: DesignMatrix, weights: np.ndarray, columns: list[np.ndarray], rungs: list,
                 pool: ACEBBasisSet, elements: Sequence[str], cfg, prior: PriorRows | None = None):
        super().__init__(frames, cfg.ladder.holdout_share, cfg.ladder.envs_per_function,
                         rows_per_function=cfg.ladder.rows_per_function)
        self.dm, self.weights, self.columns, self.rungs = dm, weights, columns, rungs
        self.pool, self.elements, self.cfg = pool, elements, cfg
        self.fit_rows = dm.rows_of(self.fit_part)
        self.coefs: dict[int, np.ndarray] = {}  # per fitted rung: coefficients fitted on the fitted part
        self.prior = prior
        self.priors: dict[int, RungPrior] = {}  # two-level: per rung, its prior

    def fit_rung(self, pos: int) -> dict:
        cols = self.columns[pos]
        X, rows = self.dm.X, self.fit_rows
        if self.prior is None:
            self.coefs[pos] = weighted_ridge(X[np.ix_(rows, cols)], self.dm.y[rows], self.weights[rows],
                                             self.cfg.ridge_alpha)
        else:  # two-level: the expensive rows pull away from the cheap fit only as far as they need
            p = self.prior_of(pos)
            self.coefs[pos] = fit_correction(X[np.ix_(rows, cols)], self.dm.y[rows], self.weights[rows],
                                             p.cheap_coef, p.prior_strength)
        return errors(self.dm, self.weights, self.score_on, cols, self.coefs[pos])

    def prior_of(self, pos: int) -> RungPrior:
        """Two-level: rung `pos`'s cheap fit c_L (step 1, on the cheap rows of its columns) and its lambda:
        given, or with auto chosen on the ladder's own held-out share of the expensive structures, so lambda
        and the rung are judged on the same structures. With nothing held out (a tiny first set) auto takes
        1 x the data's own curvature, the middle of the grid's scale (recorded as such)."""
        if pos in self.priors:
            return self.priors[pos]
        cols, p, alpha = self.columns[pos], self.prior, self.cfg.ridge_alpha
        c_L = weighted_ridge(p.dm.X[:, cols], p.dm.y, p.weights, alpha)
        A = self.dm.X[:, cols]
        if p.prior_strength != "auto":
            prior = RungPrior(c_L, float(p.prior_strength), "given")
        elif self.held.any():
            held_rows = np.zeros(A.shape[0], dtype=bool)
            held_rows[self.dm.rows_of(self.held)] = True
            groups = [self.dm.rows_of(np.array([i])) for i in np.flatnonzero(self.held)]
            choice = choose_prior_strength(A, self.dm.y, self.weights, c_L, held_rows, alpha, held_groups=groups)
            if choice.prior_used:
                prior = RungPrior(c_L, choice.prior_strength, "auto", choice)
            else:  # c = 0 pulled at ridge_alpha: exactly the one-level ridge fit
                prior = RungPrior(np.zeros_like(c_L), alpha, "auto: expensive labels alone (the prior did not win "
                                  "by one standard error)", choice)
        else:
            lam = float(prior_strength_grid(A[self.fit_rows], self.weights[self.fit_rows], decades=(0.0, 0.0))[0])
            prior = RungPrior(c_L, lam, "auto, nothing held out")
        self.priors[pos] = prior
        return prior

    def rung_structure_errors(self, pos: int) -> WeightedErrors:
        return structure_errors(self.dm, self.weights, self.held, self.columns[pos], self.coefs[pos])

    def rung_description(self, pos: int) -> dict:
        return self.rungs[pos].model_dump(mode="json")

    def stand_in(self, pos: int, entry: LadderRung) -> HoldoutStandIn | None:
        if pos not in self.coefs:
            return None
        return HoldoutStandIn(rung=self.rung_description(pos), coefficients=[float(c) for c in self.coefs[pos]],
                              score=entry.score)

    def score_previous(self, previous: HoldoutStandIn) -> PreviousScore | None:
        cols = _columns_of_record(self.pool, self.elements, self.cfg.basis.cutoff, previous, self.rungs[0].__class__)
        if cols is None:
            return None
        coef = np.asarray(previous.coefficients)
        return PreviousScore(errors=errors(self.dm, self.weights, self.held, cols, coef),
                             structure_errors=structure_errors(self.dm, self.weights, self.held, cols, coef),
                             size=len(cols))


def fit_ladder(frames: Sequence[Atoms], df: pd.DataFrame, elements: Sequence[str], cfg, max_workers: int,
               previous_holdout: HoldoutStandIn | None, rows_in: Path | None = None,
               rows_out: Path | None = None, prior: tuple[pd.DataFrame, float | str] | None = None) -> LadderFit:
    """Choose a rung by the held-out share, refit it on all labels, compare with the earlier best.

    `cfg` is the trainer config (`basis.cutoff`, `energy_weight`, `ridge_alpha`, `stress_weight`,
    `ladder`). `previous_holdout` is the `holdout_fit` entry of the previous train record (or None).
    `rows_in`/`rows_out`: design rows of the previous fit to reuse, and where to store this fit's.
    `prior` (two-level labelling): the cheap labels' DataFrame (energies already shifted to the expensive
    zero, prior_fit.energy_shift) and `prior_strength`; each rung is then fitted with the cheap fit as its
    coefficient prior (LinearLadder.prior_of), and the ladder still picks the rung on the expensive labels.
    """
    lad = cfg.ladder
    cutoff = cfg.basis.cutoff
    # the design rows are those of the largest rung of all, final_rungs included: the loop's fits
    # carry them from fit to fit, so the final fit (final_rungs as candidates too) computes none
    every_rung = lad.all_rungs()
    every_basis = [ACEBBasisSet(rung_basis_config(elements, cutoff, r)) for r in every_rung]
    pool_index = int(np.argmax([sum(functions_per_element(b).values()) for b in every_basis]))
    pool = every_basis[pool_index]
    every_column = [rung_columns(pool, b) for b in every_basis]
    bad = [i for i, c in enumerate(every_column) if c is None]
    if bad:
        names = [f"rungs[{i}]" if i < len(lad.rungs) else f"final_rungs[{i - len(lad.rungs)}]" for i in bad]
        raise TrainingError(f"trainer.ladder.{', '.join(names)}: not a subset of the largest rung's functions; give "
                            "every rung radial/angular limits no larger than the largest rung's")
    rung_bases, columns = every_basis[:len(lad.rungs)], every_column[:len(lad.rungs)]
    fingerprint = basis_fingerprint(elements, cutoff, every_rung[pool_index].model_dump(mode="json"), STRAIN_STEP)
    known = row_store.load(rows_in, fingerprint)
    dm, rows = design_matrix(pool, df, max_workers, with_stress=cfg.stress_weight > 0, known=known)
    prior_rows = None
    if prior is not None:  # two-level: the cheap rows, from the same row store (one structure, one set of rows)
        prior_df, strength = prior
        dm_L, rows_L = design_matrix(pool, prior_df, max_workers, with_stress=cfg.stress_weight > 0,
                                     known={**known, **rows})
        w_L = row_weights(dm_L, cfg.energy_weight, cfg.stress_weight, list(prior_df["ase_atoms"]))
        w_L = w_L * capped_rows(dm_L, list(prior_df["forces"]), getattr(cfg, "force_cap", None))
        prior_rows = PriorRows(dm_L, w_L, strength)
        rows = {**rows, **rows_L}
    if rows_out is not None:
        row_store.save(rows_out, fingerprint, rows)
    weights = row_weights(dm, cfg.energy_weight, cfg.stress_weight, list(df["ase_atoms"]))
    weights = weights * capped_rows(dm, list(df["forces"]), getattr(cfg, "force_cap", None))

    ladder = LinearLadder(frames, dm, weights, columns, lad.rungs, pool, elements, cfg, prior=prior_rows)
    candidates = [(i, functions_per_element(b)) for i, b in enumerate(rung_bases)]
    choice = ladder.choose(candidates, previous_holdout, lad.keep_best, lad.larger_within_se)

    chosen = choice.chosen
    basis = rung_bases[chosen]
    rung_prior = None
    if prior_rows is None:
        basis.basis_coeffs = weighted_ridge(dm.X[:, columns[chosen]], dm.y, weights, cfg.ridge_alpha)  # on all labels
    else:  # the chosen rung's lambda, now with every expensive row (as the one-level refit)
        rung_prior = ladder.prior_of(chosen)
        basis.basis_coeffs = fit_correction(dm.X[:, columns[chosen]], dm.y, weights, rung_prior.cheap_coef,
                                            rung_prior.prior_strength)
    return LadderFit(rung_index=chosen, basis=basis, record=choice.record, keep_previous=choice.keep_previous,
                     prior=rung_prior)


def _columns_of_record(pool, elements, cutoff, holdout: HoldoutStandIn, rung_model) -> np.ndarray | None:
    if holdout.coefficients is None:  # a pacemaker ladder's stand-in: a potential, not linear coefficients
        return None
    try:
        rung = rung_model.model_validate(holdout.rung)
        b = ACEBBasisSet(rung_basis_config(elements, cutoff, rung))
    except Exception as exc:  # noqa: BLE001  (a record from another config: simply not comparable)
        log.warning("cannot rebuild the earlier best fit's basis (%s)", exc)
        return None
    cols = rung_columns(pool, b)
    if cols is None or len(cols) != len(holdout.coefficients):
        return None
    return cols
