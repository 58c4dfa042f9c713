"""ACE helpers shared by the linear and the pacemaker trainer, the selector and the MD driver.

Conventions that every part of the package relies on:

* The fit target is `energy_corrected` = E - sum of isolated-atom energies (pacemaker's convention),
  so the B-basis `.yaml` predicts *binding* energies. The reference energies used are stored in the
  yaml's metadata under pacemaker's key `reference_energy` (a JSON dict element -> eV, optionally
  with pacemaker's `shift` for its `auto` mode).
* `ace_calculator` adds those reference energies back, and `write_yace` writes them into the
  `.yace`'s per-element `E0`, so both files predict *total* energies directly comparable with the
  oracle's labels. `rmse_metrics` therefore compares total energies, no correction needed.
* Gamma (extrapolation grade) needs the B-basis `.yaml` plus the active set `.asi`; the `.yace`
  (C-tilde basis) cannot compute it.

pyace calls `logging.basicConfig(level=INFO)` and sets the root logger to INFO on import; that
would make every library in the process chatty, so it is imported inside `preserve_root_logging` (use it too when importing other pyace modules).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import pandas as pd
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from ...core.errors import TrainingError
from ...core.io import atomic_path
from ...core.label_weights import trusted_rows_by_species
from ...core.periodicity import ace_view
from ...core.metrics import rmse_metrics  # noqa: F401  (re-exported for the trainers)
from ..base import PotentialFiles

log = logging.getLogger(__name__)

REFERENCE_ENERGY_KEY = "reference_energy"  # same key as pyace.const.REFERENCE_ENERGY (pacemaker)
GAMMA_TOLERANCE = 1.01  # pace_activeset / pace_select default
MAXVOL_ITERS = 300  # pace_activeset / pace_select default


@contextlib.contextmanager
def preserve_root_logging():
    """Undo pyace's import-time `logging.basicConfig(level=INFO)` on the root logger."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        root.setLevel(level)
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)



with preserve_root_logging():
    import pyace  # noqa: F401  (import side effects contained here)
    from pyace import ACEBBasisSet, BBasisConfiguration, PyACECalculator, create_multispecies_basis_config
    from pyace.calculator import ACECalculator
    from pyace.evaluator import ACERecursiveEvaluator
    from pyace.activelearning import (
        compute_A_active_inverse,
        compute_active_set,
        compute_B_projections,
        compute_number_of_functions,
        extract_reference_forces_dict,
        save_active_inverse_set,
    )


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def frame_labels(atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray | None]:
    """(energy, forces, stress-or-None) stored on a labelled frame (SinglePointCalculator)."""
    if atoms.calc is None:
        raise ValueError(f"frame {atoms.get_chemical_formula()} carries no labels (no calculator attached)")
    energy = float(atoms.get_potential_energy())
    forces = np.array(atoms.get_forces(), dtype=float)
    try:
        stress = np.array(atoms.get_stress(), dtype=float)
    except (PropertyNotImplementedError, RuntimeError):
        stress = None
    return energy, forces, stress


def reference_energy_sum(symbols: Sequence[str], reference_energies: dict[str, float]) -> float:
    """Sum of isolated-atom energies of `symbols`; names the missing elements if any."""
    missing = sorted(set(symbols) - set(reference_energies))
    if missing:
        raise ValueError(f"no isolated-atom reference energy for element(s) {missing}")
    return float(sum(reference_energies[s] for s in symbols))


def frames_to_dataframe(frames: Sequence[Atoms], reference_energies: dict[str, float]) -> pd.DataFrame:
    """Labelled frames -> pacemaker DataFrame.

    Columns: `ase_atoms` (copies without calculator), `energy`, `energy_corrected` (energy minus the
    isolated-atom energies), `forces` [n_atoms, 3], `stress` (Voigt, or None), `NUMBER_OF_ATOMS`.
    """
    rows = []
    for atoms in frames:
        energy, forces, stress = frame_labels(atoms)
        clean = ace_view(atoms)  # no SinglePointCalculator (small pickles); a slab as periodic with vacuum
        rows.append(
            {
                "ase_atoms": clean,
                "energy": energy,
                "energy_corrected": energy - reference_energy_sum(clean.get_chemical_symbols(), reference_energies),
                "forces": forces,
                "stress": stress,
                "NUMBER_OF_ATOMS": len(clean),
            }
        )
    return pd.DataFrame(rows, columns=["ase_atoms", "energy", "energy_corrected", "forces", "stress",
                                       "NUMBER_OF_ATOMS"])


# --------------------------------------------------------------------------------------------
# Basis
# --------------------------------------------------------------------------------------------
# Radial/angular limits per body order (rank 1..6); the function budget then picks the lowest
# "power order" functions from this pool (pacemaker's ladder), so these are only upper bounds.
_NRADMAX_BY_ORDER = [15, 6, 4, 3, 2, 2]
_LMAX_BY_ORDER = [0, 4, 3, 2, 1, 0]


def ace_potential_config(elements: Sequence[str], cutoff: float, number_of_functions_per_element: int,
                         max_order: int, linear: bool = True) -> dict:
    """pacemaker `potential:` section for `elements` (sorted here).

    `linear=True` gives the linear embedding (F(rho) = rho, one density) that a linear least-squares
    fit needs; otherwise pacemaker's usual two-density Finnis-Sinclair embedding.
    """
    embedding = (
        {"npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1, 1], "ndensity": 1}
        if linear
        else {"npot": "FinnisSinclairShiftedScaled", "fs_parameters": [1, 1, 1, 0.5], "ndensity": 2}
    )
    return {
        "deltaSplineBins": 0.001,
        "elements": sorted(set(elements)),
        "embeddings": {"ALL": embedding},
        "bonds": {
            "ALL": {
                "radbase": "SBessel",
                "radparameters": [5.25],
                "rcut": float(cutoff),
                "dcut": 0.01,
                "NameOfCutoffFunction": "cos",
            }
        },
        "functions": {
            "number_of_functions_per_element": int(number_of_functions_per_element),
            "ALL": {
                "nradmax_by_orders": _NRADMAX_BY_ORDER[:max_order],
                "lmax_by_orders": _LMAX_BY_ORDER[:max_order],
            },
        },
    }


def build_basis_config(elements: Sequence[str], cutoff: float, number_of_functions_per_element: int,
                       max_order: int, linear: bool = True) -> BBasisConfiguration:
    """A fresh (zero-coefficient) B-basis configuration for `elements`."""
    cfg = ace_potential_config(elements, cutoff, number_of_functions_per_element, max_order, linear)
    with preserve_root_logging():
        return create_multispecies_basis_config(cfg)


def set_reference_energies(bconf: BBasisConfiguration, reference_energies: dict[str, float]) -> None:
    """Record the isolated-atom energies in the basis metadata (pacemaker's key and format)."""
    meta = bconf.metadata
    meta[REFERENCE_ENERGY_KEY] = json.dumps({k: float(v) for k, v in sorted(reference_energies.items())})
    bconf.metadata = meta


def read_reference_energies(basis: ACEBBasisSet | BBasisConfiguration) -> dict[str, float]:
    """Per-element energy to add to the ACE (binding) energy; {} if the yaml stores none.

    pacemaker's `auto` mode stores a `shift` per atom *added* to energy_corrected, so it is
    subtracted from every element's value here.
    """
    meta = dict(basis.metadata) if basis.metadata is not None else {}
    raw = meta.get(REFERENCE_ENERGY_KEY)
    if not raw:
        return {}
    values = json.loads(raw)
    if not isinstance(values, dict):  # pacemaker may store a preset name: nothing we can add back
        log.warning("reference_energy metadata %r is not a per-element dict; energies stay corrected", raw)
        return {}
    shift = float(values.pop("shift", 0.0))
    return {el: float(e) - shift for el, e in values.items()}


# --------------------------------------------------------------------------------------------
# Files: .yace and .asi
# --------------------------------------------------------------------------------------------
_E0_LINE = re.compile(r"^E0: \[.*\]$", re.MULTILINE)


def write_yace(potential_yaml: Path, out_yace: Path) -> None:
    """B-basis .yaml -> C-tilde .yace (what `pace_yaml2yace` does), written atomically.

    The reference energies from the yaml's metadata go into the yace's per-element `E0`, so that
    LAMMPS/`pair_style pace` report total energies, like `ace_calculator` does.
    """
    bbasis = ACEBBasisSet(str(potential_yaml))
    ref = read_reference_energies(bbasis)
    with atomic_path(out_yace) as tmp:
        bbasis.to_ACECTildeBasisSet().save_yaml(str(tmp))
        if ref:
            text = tmp.read_text()
            if len(_E0_LINE.findall(text)) != 1:
                raise RuntimeError(f"{out_yace}: unexpected .yace layout, cannot set E0")
            e0 = ", ".join(repr(ref.get(el, 0.0)) for el in bbasis.elements_name)
            tmp.write_text(_E0_LINE.sub(f"E0: [{e0}]", text, count=1))


def _as_dataframe(frames_or_df: Union[Sequence[Atoms], pd.DataFrame]) -> pd.DataFrame:
    """Accept a pacemaker DataFrame, labelled frames, or unlabelled frames (no `forces` column)."""
    if isinstance(frames_or_df, pd.DataFrame):
        return frames_or_df
    frames = list(frames_or_df)
    df = pd.DataFrame({"ase_atoms": [ace_view(a) for a in frames]})
    if frames and all(a.calc is not None for a in frames):
        df["forces"] = [np.array(a.get_forces(), dtype=float) for a in frames]
    return df


def _crop_by_force_error(bbasis, df: pd.DataFrame, proj: dict, pred_forces: dict, trusted: dict | None = None) -> dict:
    """pace_activeset's default filter: drop environments whose force error is an outlier
    (above Q3 + 1.5 IQR per element), so badly fitted atoms do not define the trusted region.
    Keeps all environments of an element if cropping would leave too few to span the basis."""
    ref_forces = extract_reference_forces_dict(list(df["ase_atoms"]), list(df["forces"]),
                                               bbasis.elements_to_index_map)
    cropped = {}
    for st, a0 in proj.items():
        if len(a0) == 0:
            cropped[st] = a0
            continue
        ref = ref_forces[st] if trusted is None else ref_forces[st][trusted[st]]
        err = np.linalg.norm(ref - pred_forces[st], axis=1) / np.sqrt(3)
        q1, q3 = np.quantile(err, [0.25, 0.75])
        mask = err <= q3 + 1.5 * (q3 - q1)
        cropped[st] = a0[mask] if mask.sum() >= a0.shape[1] else a0
    return cropped


def compute_active_set_inverse(bbasis: ACEBBasisSet, frames_or_df, crop_outliers: bool = True) -> dict:
    """{species type: pinv(active set)} by MaxVol on the linear B-projections (pace_activeset,
    single-shot mode: the datasets of this pipeline fit in memory).

    Dilute elements and molecules. MaxVol needs the projections of an element to have full column
    rank: at least as many atomic environments as basis functions, and distinct enough. One Ni atom
    in Cu31 has one environment per structure; the four H atoms of CH4 span only a few directions.

    * A dilute element among elements that do span their bases gets a zero inverse: its own γ is 0
      (not monitored) until its environments span its basis. Its neighbours watch it: their
      environments are plentiful and their basis functions include the dilute element as a
      neighbour, so a new configuration around it raises their γ. (Monitoring its own γ within the
      few environments seen halts every exploration: a handful of rattled copies of one site are
      nearly collinear, and every new thermal configuration needs large coefficients.)
    * If no element spans its basis (a molecule), each gets MaxVol in the row space of its
      projections (``maxvol_rows``), the active set's pseudo-inverse zero-padded to the square
      shape pyace requires (``padded_inverse``): γ within the span seen so far.

    Once an element's data spans its basis, this is exactly pace_activeset's MaxVol.
    """
    df = _as_dataframe(frames_or_df)
    proj, pred_forces = compute_B_projections(bbasis, list(df["ase_atoms"]), compute_forces_dict=True)
    nfuncs = compute_number_of_functions(bbasis)
    # cut-outs: only environments whose forces were trained define the trusted region
    trusted = trusted_rows_by_species(list(df["ase_atoms"]), bbasis.elements_to_index_map)
    if trusted is not None and all(trusted[st].sum() >= nfuncs[st] for st in proj):
        proj = {st: a0[trusted[st]] for st, a0 in proj.items()}
        pred_forces = {st: f[trusted[st]] for st, f in pred_forces.items()}
    elif trusted is not None:
        log.warning("active set: too few trusted (core) environments for the basis; using all of them")
        trusted = None
    if crop_outliers and "forces" in df.columns:
        proj = _crop_by_force_error(bbasis, df, proj, pred_forces, trusted)
    rows = {st: maxvol_rows(a0) for st, a0 in proj.items()}
    spanned = {st for st in proj if len(rows[st]) == nfuncs[st]}
    inverse = {}
    for st, a0 in proj.items():
        name = bbasis.elements_name[st]
        if st in spanned:
            inverse[st] = padded_inverse(a0[rows[st]], nfuncs[st])
        elif spanned:  # a dilute element among well-sampled ones: its neighbours watch it
            log.info("active set for %s: its %d atomic environments span %d of %d basis functions; its own "
                     "gamma is not monitored until they do (its neighbours' gamma is)", name, a0.shape[0],
                     len(rows[st]), nfuncs[st])
            inverse[st] = np.zeros((nfuncs[st], nfuncs[st]))
        else:  # no element spans its basis (a molecule): gamma within the span seen so far
            log.info("active set for %s: its %d atomic environments span %d of %d basis functions; MaxVol in "
                     "that span", name, a0.shape[0], len(rows[st]), nfuncs[st])
            inverse[st] = padded_inverse(a0[rows[st]], nfuncs[st])
    return inverse


def maxvol_rows(a0: np.ndarray) -> np.ndarray:
    """Row indices MaxVol picks from `a0` (n_env, n_functions): exactly pace_activeset's choice when
    it can make one (enough environments, MaxVol's matrix not singular), otherwise MaxVol on `a0`'s
    coordinates in its own row space (rank r rows: every environment is then a combination of the
    chosen ones with coefficients of at most ~1)."""
    n, m = a0.shape
    if n == 0:
        return np.zeros(0, dtype=int)
    if n >= m:
        try:
            _, chosen = compute_active_set({0: a0.copy()}, {0: np.arange(n)}, tol=GAMMA_TOLERANCE,
                                           max_iters=MAXVOL_ITERS)
            return np.asarray(chosen[0], dtype=int)
        except ValueError:  # "Input matrix must not be singular": the data spans fewer directions
            pass
    rank = int(np.linalg.matrix_rank(a0))
    if rank == 0:  # all-zero projections (seen for CH4 candidates): nothing to choose, and pyace's
        return np.zeros(0, dtype=int)  # MaxVol fails on a matrix without columns
    _, _, vt = np.linalg.svd(a0, full_matrices=False)
    work = a0 @ vt[:rank].T
    _, chosen = compute_active_set({0: work}, {0: np.arange(n)}, tol=GAMMA_TOLERANCE, max_iters=MAXVOL_ITERS)
    return np.asarray(chosen[0], dtype=int)


def padded_inverse(active: np.ndarray, n_functions: int) -> np.ndarray:
    """pinv of the active set (r, n_functions), padded with zero columns to the square
    (n_functions, n_functions) pyace accepts: γ = max |B · pinv(A)| is unchanged by zero columns.
    A full active set (r = n_functions) gives pace_activeset's pinv(A)."""
    out = np.zeros((n_functions, n_functions))
    if active.shape[0]:
        out[:, : active.shape[0]] = np.linalg.pinv(active)
    return out


def write_active_set(potential_yaml: Path, frames_or_df, out_asi: Path) -> None:
    """Compute the active set of the training data for `potential_yaml` and write the .asi
    (npz of per-element pinv(active set)), atomically. Same algorithm as `pace_activeset`."""
    bbasis = ACEBBasisSet(str(potential_yaml))
    asi = compute_active_set_inverse(bbasis, frames_or_df)
    with atomic_path(out_asi) as tmp:
        save_active_inverse_set(str(tmp), asi, elements_name=bbasis.elements_name)


def read_active_set_inverse(asi_path: Path, bbasis: ACEBBasisSet) -> dict:
    """{species type of `bbasis`: pinv(active set)} from an .asi file (npz keyed by element name;
    mapped by name rather than by pyace's sorted-order assumption)."""
    with np.load(str(asi_path)) as data:
        missing = sorted(set(bbasis.elements_name) - set(data.files))
        if missing:
            raise ValueError(f"{asi_path}: no active set for element(s) {missing}")
        return {st: np.array(data[el]) for el, st in bbasis.elements_to_index_map.items()}


# --------------------------------------------------------------------------------------------
# Calculator
# --------------------------------------------------------------------------------------------
class AceCalculator(PyACECalculator):
    """PyACECalculator that reports total energies and, with an active set, per-atom gamma.

    * Energies: the B-basis predicts binding energies; the per-element reference energies found
      in the yaml metadata are added to `energy`, `free_energy` and `energies`.
    * Gamma: 'gamma' is a declared property, so `get_property('gamma', atoms)` goes through ASE's
      cache check and recomputes whenever the configuration changed (or the last result has no
      gamma); the active set is loaded before anything is computed.
    * `gamma_with_forces` (default True: every result carries gamma) lets MD skip gamma between
      its checks. Gamma needs the B-basis evaluator and its per-atom projections; a call without
      gamma goes to a second pyace calculator on the same potential converted to pyace's C-tilde
      form with its recursive evaluator, 1.8-2x faster (600 functions, 32 Cu atoms: 2.9 against
      5.2 ms per force call; benchmarks/RESULTS.md "Training cells wider than twice the cutoff", Costs).
      Energies, forces and virials agree with the B-basis evaluator to ~1e-12 (eV, eV/Å), also
      inside the ZBL core. Without an active set every call takes the fast path. Two calculators
      also because pyace keeps the last projections and copies them out on every call.
    """

    #: False: calls without gamma use the B-basis evaluator too (the code path before the recursive
    #: one; benchmarks/throughput.py times both, tests compare them)
    recursive_without_gamma = True

    def __init__(self, potential_yaml: Path, active_set: Path | None = None):
        with preserve_root_logging():
            super().__init__(ACEBBasisSet(str(potential_yaml)))
        self._e0 = read_reference_energies(self.basis)
        self.implemented_properties = list(PyACECalculator.implemented_properties)
        self.has_active_set = active_set is not None
        self.gamma_with_forces = True
        self.compute_projections = False
        self._ace_gamma, self._ace_plain = self.ace, ACECalculator()
        # pyace keeps raw pointers: the C-tilde basis and its evaluator must live as long as we do
        if self.recursive_without_gamma:
            self._ctilde = self.basis.to_ACECTildeBasisSet()
            self._fast_evaluator = ACERecursiveEvaluator(self._ctilde)
            self._fast_evaluator.set_recursive(True)
            self._ace_plain.set_evaluator(self._fast_evaluator)
        else:
            self._ace_plain.set_evaluator(self.evaluator)
        if active_set is not None:
            # pyace only accepts `str` (a Path is rejected as "unsupported type")
            self.set_active_set(str(active_set))
            self.implemented_properties.append("gamma")
        self.reset()

    def check_state(self, atoms, tol=1e-15):
        """ASE's check with quick exits: MD asks for the forces three times per step, and ASE's
        comparison of every array (~0.2 ms) is a tenth of a 32-atom force call. An identical
        structure (in what ACE reads) is unchanged; moved atoms are a change (any change means a
        full recalculation, so the rest need not be listed); anything else goes to ASE."""
        old = self.atoms
        if old is None or len(old) != len(atoms):
            return super().check_state(atoms, tol)
        if np.abs(old.positions - atoms.positions).max(initial=0.0) > tol:
            return ["positions"]
        if (np.array_equal(old.positions, atoms.positions) and np.array_equal(old.numbers, atoms.numbers)
                and np.array_equal(old.cell.array, atoms.cell.array) and np.array_equal(old.pbc, atoms.pbc)):
            return []
        return super().check_state(atoms, tol)

    def calculate(self, atoms=None, properties=("energy", "forces", "stress", "energies"),
                  system_changes=all_changes):
        # pyace computes gamma iff it computes projections; its extrapolation bookkeeping needs
        # is_active_set_configured to agree (it takes max() of the gamma list)
        want_gamma = self.has_active_set and (self.gamma_with_forces or "gamma" in properties)
        self.compute_projections = self.is_active_set_configured = want_gamma
        self.ace = self._ace_gamma if want_gamma else self._ace_plain
        if atoms is not None and np.any(atoms.pbc) and not np.all(atoms.pbc):
            # pyace takes only all-or-nothing periodicity: a slab is computed as periodic with its
            # (checked) vacuum; `self.atoms` keeps the caller's pbc so ASE's result cache still hits.
            super().calculate(ace_view(atoms), properties, system_changes)
            self.atoms = atoms.copy()
            self.results.pop("stress", None)  # a slab's "stress" would depend on the vacuum
        else:
            super().calculate(atoms, properties, system_changes)
        if self._e0:
            per_atom = np.array([self._e0.get(s, 0.0) for s in self.atoms.get_chemical_symbols()])
            self.results["energies"] = self.results["energies"] + per_atom
            self.results["energy"] = self.results["energy"] + float(per_atom.sum())
            self.results["free_energy"] = self.results["energy"]
        if want_gamma:
            if len(self.results["gamma"]) != len(self.atoms):
                raise RuntimeError("pyace returned no per-atom gamma although an active set is loaded")
        else:
            self.results.pop("gamma", None)


def ace_calculator(potential: PotentialFiles, with_gamma: bool = False) -> Calculator:
    """ASE calculator on the B-basis yaml; `with_gamma` loads the .asi so `results['gamma']`
    holds the per-atom extrapolation grade of the last computed configuration."""
    if with_gamma and not Path(potential.asi).is_file():
        raise FileNotFoundError(f"{potential.asi}: active set file missing (needed for gamma)")
    return AceCalculator(Path(potential.yaml), Path(potential.asi) if with_gamma else None)


def per_atom_gamma(calc: Calculator, atoms: Atoms) -> np.ndarray:
    """Per-atom gamma of `atoms` (recomputed if the configuration changed since the last call)."""
    if "gamma" in getattr(calc, "implemented_properties", ()):
        return np.asarray(calc.get_property("gamma", atoms), dtype=float)
    # a plain PyACECalculator: force a fresh calculation so the result cannot be stale
    calc.reset()
    calc.calculate(atoms)
    gamma = np.asarray(calc.results.get("gamma", ()), dtype=float)
    if len(gamma) != len(atoms):
        raise ValueError("calculator reports no per-atom gamma: load an active set (with_gamma=True)")
    return gamma


def max_gamma(calc: Calculator, atoms: Atoms) -> float:
    """Largest per-atom extrapolation grade of `atoms`."""
    return float(np.max(per_atom_gamma(calc, atoms)))


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------
def check_labels_finite(dataset: Sequence[Atoms]) -> None:
    """Raise TrainingError naming the first frame with a non-finite energy, force or stress."""
    for i, atoms in enumerate(dataset):
        energy, forces, stress = frame_labels(atoms)
        values = [np.atleast_1d(energy), forces.ravel()] + ([stress.ravel()] if stress is not None else [])
        if not all(np.isfinite(v).all() for v in values):
            raise TrainingError(f"training frame {i} ({atoms.get_chemical_formula()}) has non-finite labels")


def write_potential_files(fitted, df, dataset: Sequence[Atoms], out_dir: Path) -> dict:
    """Write potential.yace/.asi from a fitted B-basis configuration, check its training errors,
    and only then rename potential.yaml into place: a present potential.yaml means a complete
    potential that predicts finite energies and forces. Returns the training RMSEs."""
    potential = PotentialFiles.in_dir(out_dir)
    with atomic_path(potential.yaml) as tmp_yaml:
        fitted.save(str(tmp_yaml))
        write_yace(tmp_yaml, potential.yace)
        try:
            write_active_set(tmp_yaml, df, potential.asi)
        except ValueError as exc:  # too few environments for a full-rank active set
            raise TrainingError(str(exc)) from exc
        train = rmse_metrics(AceCalculator(tmp_yaml), dataset)  # checks the file as written
        # (energy None: no frame's energy is a label, e.g. only cut-outs)
        if train["force_rmse"] is None or not np.isfinite(train["force_rmse"]) or not (
                train["energy_rmse_per_atom"] is None or np.isfinite(train["energy_rmse_per_atom"])):
            raise TrainingError(f"fit in {out_dir} predicts non-finite energies/forces: {train}")
    return train
