"""Two-level fit: the fit to the cheap labels as a prior for the coefficients of the expensive fit.

The algorithm of docs/two_level_labelling.md ("The fit"), on arrays only, so that it is tested on
synthetic problems and the trainer only builds the rows (design matrix A, targets y, row weights w)
of each level:

1. c_L = argmin |A_L c - y_L|^2_W + alpha |c|^2         (all cheap labels, alpha = `ridge_alpha`)
2. c   = argmin |A_H c - y_H|^2_W + lambda |c - c_L|^2   (expensive labels, lambda = `prior_strength`)

Step 2 is solved as a ridge on the residuals: with c = c_L + delta it reads
|A_H delta - (y_H - A_H c_L)|^2_W + lambda |delta|^2, i.e. the same weighted ridge (ridge.py) on
other targets. Why this form (Delta-learning inside the ACE basis, one potential at run time, the
cheap level's systematic softening not mixed in as data): see the design page. Its limits are the
two one-level runs: lambda -> infinity gives c_L (pure distillation), lambda -> 0 the least-squares
fit to the expensive labels (when they determine every coefficient).

`prior_strength: auto` chooses lambda on a log grid by the held-out error of the expensive labels
(`choose_prior_strength`): the caller passes which rows are held out. In a run that is the basis
ladder's own split (holdout.split_holdout on the expensive structures, by structure hash, mapped to
rows with DesignMatrix.rows_of), so lambda and the basis are judged on the same held-out structures
and a structure's rows are never split between fitted and held-out.

The energies of the two levels have different zeros (a universal potential's PBE+U total energies
vs a pseudopotential code's): `energy_shift` finds the per-element constant that puts the cheap
energies on the expensive level's zero before step 1. Forces and stress need no shift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence

import numpy as np
from ase import Atoms

from ...core.errors import TrainingError
from ...core.label_weights import energy_weight
from ...sampling.compositions import composition_check, composition_matrix
from ...domain_models.two_level_config import cheap_level_trusted
from .ridge import weighted_ridge

GRID_DECADES = (-6.0, 3.0)  # lambda / (mean diagonal of A^T W A of the fitted expensive rows)
GRID_PER_DECADE = 2


# --------------------------------------------------------------------------------------------
# The two steps
# --------------------------------------------------------------------------------------------
def fit_correction(A_H: np.ndarray, y_H: np.ndarray, w_H: np.ndarray, c_L: np.ndarray,
                   prior_strength: float) -> np.ndarray:
    """Step 2: argmin |A_H c - y_H|^2_W + lambda |c - c_L|^2, as c_L + the ridge of the residuals.

    A_H [n_rows, n_cols], y_H [n_rows], w_H [n_rows], c_L [n_cols] (step 1: `weighted_ridge` on the
    shifted cheap rows), prior_strength = lambda > 0; returns c [n_cols].
    """
    if not prior_strength > 0:
        raise TrainingError(f"prior strength must be > 0 (got {prior_strength})")
    return c_L + weighted_ridge(A_H, y_H - A_H @ c_L, w_H, prior_strength)


def prior_strength_grid(A_H: np.ndarray, w_H: np.ndarray, decades: tuple[float, float] = GRID_DECADES,
                        per_decade: int = GRID_PER_DECADE) -> np.ndarray:
    """The log grid of lambda that `auto` searches, in units of the data's own curvature.

    Why relative: lambda competes with A_H^T W A_H, whose size grows with the number of expensive
    rows and depends on the basis functions' scale, so an absolute grid would sit in the wrong range
    for some systems. The unit is the mean diagonal of A_H^T W A_H (what one coefficient's curvature
    from the data is on average); `decades` spans "the data decide" (1e-6) to "the prior decides" (1e3).
    """
    scale = float(np.mean(np.einsum("ij,i,ij->j", A_H, w_H, A_H)))
    if not scale > 0:
        raise TrainingError("no weighted expensive rows to choose the prior strength on")
    n = int(round((decades[1] - decades[0]) * per_decade)) + 1
    return scale * np.logspace(decades[0], decades[1], n)


def held_out_score(A: np.ndarray, y: np.ndarray, w: np.ndarray, coef: np.ndarray) -> float:
    """sqrt(sum w r^2 / sum w) over the given rows: the weighted RMS residual.

    With the rows of the fit (energy rows weighted energy_weight * N, force components by trust),
    its numerator is that of scoring/fit_weights' score and its denominator does not depend on the
    coefficients, so both rank candidate fits alike.
    """
    r = A @ coef - y
    return float(np.sqrt(np.sum(w * r * r) / np.sum(w)))


@dataclass
class PriorStrengthChoice:
    """What `choose_prior_strength` found (for the train record once the trainer uses it)."""

    prior_strength: float  # the chosen lambda (a grid value)
    grid: list[float]  # the lambdas tried
    scores: list[float]  # held-out score of each (weighted RMS residual, `held_out_score`)
    cheap_only_score: float  # the limit lambda -> infinity: c_L itself
    expensive_only_score: float  # the one-level fit: ridge (alpha) on the fitted expensive rows alone
    prior_used: bool = True  # False: the best lambda did not beat the expensive-only fit by one standard error
    margin: str = ""  # the paired comparison behind `prior_used`


def beats_by_one_se(A: np.ndarray, y: np.ndarray, w: np.ndarray, coef: np.ndarray, base: np.ndarray,
                    groups: Sequence[np.ndarray]) -> tuple[bool, str]:
    """Does `coef` beat `base` on the held-out rows by more than one standard error of the paired
    difference over held-out structures (`groups`: each structure's row indices)? The held-out share of
    an early fit holds 1-3 structures; a lambda that wins there by a few per cent is noise (measured on
    Si/GPAW with CHGNet: the prior won the first fit's share by 6.5 % and was 2.3x worse on independent
    GPAW frames, 28.7 against 12.4 meV/Å), so the prior must win clearly, as the ladder's larger basis
    must (`larger_within_se`). Fewer than 2 structures: no standard error, no win."""
    def sq(c):
        r = A @ c - y
        return np.array([float(np.sum(w[g] * r[g] ** 2)) for g in groups])

    d = sq(coef) - sq(base)  # per structure: negative = coef better
    if len(groups) < 2:
        return False, f"{len(groups)} held-out structure(s): no standard error"
    total, se = float(d.sum()), float(np.sqrt(len(d)) * d.std(ddof=1))
    return total + se < 0, (f"paired difference of weighted squared residuals over {len(d)} held-out structures "
                            f"{total:.3g} (one standard error {se:.3g})")


def choose_prior_strength(A_H: np.ndarray, y_H: np.ndarray, w_H: np.ndarray, c_L: np.ndarray,
                          held: np.ndarray, alpha: float, grid: np.ndarray | None = None,
                          held_groups: Sequence[np.ndarray] | None = None) -> PriorStrengthChoice:
    """`prior_strength: auto`: fit step 2 on the rows not `held` for each lambda of `grid` (default
    `prior_strength_grid` of those rows), score each on the `held` rows, take the lowest; a tie goes
    to the larger lambda (the fit nearer the prior, the simpler one, like the ladder's tie to the
    smaller basis).

    The default grid starts at `alpha` (ridge_alpha) itself: lambda = alpha is the expensive-only fit
    whenever the expensive rows determine the coefficients, and the relative grid's lowest point
    (1e-6 x the mean curvature) can still dominate the curvature of weakly constrained columns
    (measured on Cu/EMT with a Morse cheap level: its 11.6 scored 0.037 on the held-out share, the
    expensive-only fit 0.00099), so without it a bad cheap level could not be switched off.

    held [n_rows] bool: the expensive rows held out (whole structures, see the module docstring).
    Both one-level limits are scored on the same rows and returned beside the choice, so a record
    shows whether the two-level fit beat them. Raises TrainingError when nothing is held out or
    nothing is left to fit: then the expensive labels cannot tell the lambdas apart (scored on the
    fitted rows, the smallest lambda would always win).
    """
    held = np.asarray(held, dtype=bool)
    fit = ~held
    if not held.any() or not fit.any():
        raise TrainingError(f"prior_strength auto: {int(held.sum())} of {len(held)} expensive rows held out; "
                            "need some held out and some fitted to choose it")
    A_f, y_f, w_f = A_H[fit], y_H[fit], w_H[fit]
    A_h, y_h, w_h = A_H[held], y_H[held], w_H[held]
    if grid is None:
        grid = prior_strength_grid(A_f, w_f)
        if alpha < grid[0]:  # the expensive-only end (see the docstring)
            grid = np.concatenate([[alpha], grid])
    grid = np.asarray(grid, dtype=float)
    coefs = [fit_correction(A_f, y_f, w_f, c_L, lam) for lam in grid]
    scores = [held_out_score(A_h, y_h, w_h, c) for c in coefs]
    best = min(range(len(grid)), key=lambda i: (scores[i], -grid[i]))
    off = weighted_ridge(A_f, y_f, w_f, alpha)
    cheap_only, expensive_only = held_out_score(A_h, y_h, w_h, c_L), held_out_score(A_h, y_h, w_h, off)
    used, margin = True, ""
    if held_groups is not None and not cheap_level_trusted(cheap_only, expensive_only):
        # a cheap level much further from the held-out expensive labels than the one-level fit must prove
        # its prior: beat the one-level fit by one standard error (beats_by_one_se); one near it is trusted
        used, margin = beats_by_one_se(A_H, y_H, w_H, coefs[best], off, held_groups)
    elif held_groups is not None:
        margin = f"trusted: the cheap fit alone scores {cheap_only:.3g}, the expensive labels alone {expensive_only:.3g}"
    return PriorStrengthChoice(
        prior_strength=float(grid[best]), grid=[float(g) for g in grid], scores=scores,
        cheap_only_score=cheap_only, expensive_only_score=expensive_only, prior_used=used, margin=margin)


@dataclass
class TwoLevelFit:
    """The coefficients of a two-level fit and how they were found."""

    coef: np.ndarray  # c: the potential's coefficients
    cheap_coef: np.ndarray  # c_L: the fit to the (shifted) cheap labels alone, the prior
    prior_strength: float  # lambda used
    choice: PriorStrengthChoice | None = field(default=None)  # with `auto`: the search


def two_level_fit(A_L: np.ndarray, y_L: np.ndarray, w_L: np.ndarray, A_H: np.ndarray, y_H: np.ndarray,
                  w_H: np.ndarray, alpha: float, prior_strength: float | Literal["auto"],
                  held: np.ndarray | None = None) -> TwoLevelFit:
    """Both steps: c_L on the cheap rows (y_L already shifted, `energy_shift`), then c on all
    expensive rows with lambda = `prior_strength`, or with `auto` the lambda `choose_prior_strength`
    picks on the `held` split (the final fit then uses every expensive row, held-out ones included,
    as the ladder refits its chosen rung on all labels).

    A_L [n_L, n_cols], A_H [n_H, n_cols] with the same columns; y, w per row; alpha = ridge_alpha.
    """
    c_L = weighted_ridge(A_L, y_L, w_L, alpha)
    choice = None
    if prior_strength == "auto":
        if held is None:
            raise TrainingError("prior_strength auto needs the held-out rows of the expensive labels")
        choice = choose_prior_strength(A_H, y_H, w_H, c_L, held, alpha)
        prior_strength = choice.prior_strength
    coef = fit_correction(A_H, y_H, w_H, c_L, float(prior_strength))
    return TwoLevelFit(coef=coef, cheap_coef=c_L, prior_strength=float(prior_strength), choice=choice)


# --------------------------------------------------------------------------------------------
# Energy zero between the levels
# --------------------------------------------------------------------------------------------
@dataclass
class EnergyShift:
    """Per-element constants (eV/atom) that put cheap energies on the expensive level's zero:
    E_cheap + sum over atoms of `per_element[symbol]` ~ E_expensive."""

    per_element: dict[str, float]
    method: Literal["composition_fit", "isolated_atoms"]  # how they were found (`energy_shift`)

    def of(self, atoms: Atoms) -> float:
        """The shift of one structure's total energy (eV)."""
        return float(sum(self.per_element[s] for s in atoms.get_chemical_symbols()))


def energy_shift(frames: Sequence[Atoms], e_expensive: Sequence[float], e_cheap: Sequence[float],
                 elements: Sequence[str], isolated_expensive: Mapping[str, float] | None = None,
                 isolated_cheap: Mapping[str, float] | None = None) -> EnergyShift:
    """The per-element shift between the levels, from the structures labelled at both.

    frames: those structures; e_expensive, e_cheap: their total energies (eV) at each level.
    Least squares of (E_expensive - E_cheap) / N on the composition matrix (element fractions,
    sampling/compositions.py: every structure counts once, as its energy row does in the fit).
    When that matrix does not determine every element's term (its rank test, `composition_check`:
    e.g. one composition of a compound, however many cells), a fit would split the shift among the
    elements arbitrarily and shift energies at other compositions by a spurious constant per atom;
    the shift is then the difference of each level's isolated-atom energies (both passed in).
    """
    elements = list(elements)
    frames = list(frames)
    if len(frames) != len(e_expensive) or len(frames) != len(e_cheap):
        raise TrainingError(f"energy shift: {len(frames)} structures but {len(e_expensive)} expensive and "
                            f"{len(e_cheap)} cheap energies")
    if frames and composition_check(frames, elements).determined:
        n_atoms = np.array([len(a) for a in frames], dtype=float)
        diff = (np.asarray(e_expensive, dtype=float) - np.asarray(e_cheap, dtype=float)) / n_atoms
        s, *_ = np.linalg.lstsq(composition_matrix(frames, elements), diff, rcond=None)
        return EnergyShift(per_element={el: float(v) for el, v in zip(elements, s)}, method="composition_fit")
    missing = [el for el in elements
               if isolated_expensive is None or isolated_cheap is None
               or el not in isolated_expensive or el not in isolated_cheap]
    if missing:
        raise TrainingError(f"energy shift between the levels: {len(frames)} structure(s) labelled at both do not "
                            f"determine the per-element terms and the isolated-atom energies of "
                            f"{', '.join(missing)} are missing at one level; give both levels' reference energies")
    return EnergyShift(per_element={el: float(isolated_expensive[el] - isolated_cheap[el]) for el in elements},
                       method="isolated_atoms")


# --------------------------------------------------------------------------------------------
# What the trainer gets
# --------------------------------------------------------------------------------------------
@dataclass
class CheapPrior:
    """A two-level run's cheap labels for the fit (steps/train.py passes it as `prior=`), and
    `two_level.fit.prior_strength` ("auto" or lambda)."""

    frames: list
    prior_strength: float | str = "auto"
    isolated: Mapping[str, float] | None = None  # the cheap oracle's isolated-atom energies (the shift's fallback)


def both_levels(expensive: Sequence[Atoms], cheap: Sequence[Atoms]) -> list[tuple[Atoms, Atoms]]:
    """(expensive, cheap) label pairs of the same structure (matched by `label_hash`, the hash of the
    structure the oracles were given) whose energy is a label (not a cut-out's)."""
    by_hash = {a.info.get("label_hash"): a for a in cheap}
    pairs = []
    for e in expensive:
        c = by_hash.get(e.info.get("label_hash"))
        if c is not None and energy_weight(e) > 0 and energy_weight(c) > 0:
            pairs.append((e, c))
    return pairs


def shift_between_levels(expensive: Sequence[Atoms], cheap: Sequence[Atoms],
                         isolated_expensive: Mapping[str, float] | None = None,
                         isolated_cheap: Mapping[str, float] | None = None) -> tuple[EnergyShift, int]:
    """`energy_shift` on the structures labelled at both levels; returns (shift, number of such structures)."""
    pairs = both_levels(expensive, cheap)
    elements = sorted({s for a in [*expensive, *cheap] for s in a.get_chemical_symbols()})
    shift = energy_shift([e for e, _ in pairs], [e.get_potential_energy() for e, _ in pairs],
                         [c.get_potential_energy() for _, c in pairs], elements, isolated_expensive, isolated_cheap)
    return shift, len(pairs)
