"""Pacemaker trainer: the full non-linear ACE fit (BFGS on all coefficients, TensorFlow backend).

Which interpreter: pacemaker runs in its own environment (`trainer.python`, found automatically;
see pacemaker_env), because tensorpotential holds numpy/pandas back. Data crosses as extended XYZ
and `pacemaker_driver.py` builds pacemaker's DataFrame there; the potential comes back as
pacemaker's yaml (text), and the .yace/.asi are written here, in the main environment, with pyace.

Why a subprocess: pacemaker's TensorFlow backend (`tensorpotential`) keeps graph caches and
allocator pools for the lifetime of the process, and importing TensorFlow costs seconds and
hundreds of MB. Running pacemaker (`pacemaker_driver.py`) in a scratch directory keeps
the calling process (a Snakemake job or a test) free of TensorFlow, gives every fit a clean
memory state, and leaves pacemaker's own files (log, per-iteration metrics) for inspection.

How a fit continues from the previous iteration (`upfit`): pacemaker's `potential: file.yaml`
loads a fitted B-basis and optimises it further on the new data, so the first BFGS step starts at
the previous optimum instead of from zero coefficients. If the data now contain an element the
previous potential lacks, that is not possible; pacemaker's `initial_potential` is used instead:
it copies the previous blocks and adds the new element's functions (its "ladder" extension).

Energies follow `components.ace.common`'s convention: the fit target is `energy_corrected` (total energy
minus isolated-atom energies); the reference energies are stored in the yaml metadata and added
back by the calculator and in the `.yace`.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import yaml
from ase import Atoms
from ase.calculators.calculator import Calculator

from ...core.errors import TrainingError
from ...core.io import atomic_path, copy_file
from ...core.label_weights import has_partial_trust, pacemaker_weights
from ...core.seeds import library_seed
from ...domain_models.config import PacemakerTrainerConfig
from ..base import PotentialFiles
from . import pacemaker_driver
from .pacemaker_env import clean_env, pacemaker_python
from .pacemaker_ladder import fit_with_ladder
from ..ace.common import (
    write_potential_files,
    check_labels_finite,
    preserve_root_logging,
    ace_calculator,
    ace_potential_config,
    build_basis_config,
    frames_to_dataframe,
    set_reference_energies,
)

with preserve_root_logging():
    from pyace import ACEBBasisSet, BBasisConfiguration
    from pyace.generalfit import setup_zbl_inner_core_repulsion

log = logging.getLogger(__name__)

SCRATCH_DIR = "pacemaker_work"  # inside out_dir; removed after a successful fit, kept on failure
LOG_NAME = "pacemaker.log"  # pacemaker's full output, copied into out_dir
METRICS_NAME = "pacemaker_metrics.txt"  # pacemaker's per-iteration loss table, copied into out_dir
INPUT_NAME = "pacemaker_input.yaml"  # the input.yaml that was run, copied into out_dir
LINEAR_START = "linear_start.yaml"  # the linear ACE solution BFGS starts from (start: linear)
DATA_XYZ = "data.extxyz"  # the training frames handed to the pacemaker environment

# pacemaker's template values: tiny L1/L2 regularisation, structures per TensorFlow batch, and the
# number of iterations between the detailed metric blocks in its log (every iteration is in
# metrics.txt regardless).
L1_COEFFS = 1e-8
L2_COEFFS = 1e-8
BATCH_SIZE = 100
DISPLAY_STEP = 20
LOG_TAIL_LINES = 25  # lines of pacemaker's log quoted in a TrainingError
# `repulsion: zbl`: the ZBL core takes over below this fraction of the shortest interatomic distance
# in the training data. pacemaker's own `auto` puts it AT that distance, so an MD frame only a little
# shorter (rattled training cells: 2.28 A; 300-900 K MD: 2.21 A) is scored by pure ZBL: validation
# F RMSE 17 eV/A instead of 2.4 meV/A for the same fit (40 functions, Cu/EMT, see docs/pacemaker.md). At 0.75
# the inner cutoff sits far below anything MD samples near equilibrium but still stops a collapse.
ZBL_INNER_FRACTION = 0.75


def check_pacemaker_setup(cfg: PacemakerTrainerConfig) -> Path:
    """The pacemaker interpreter for `cfg` (UserError naming the install script if unusable)."""
    return pacemaker_python(cfg.python)


def read_loss_history(metrics_txt: Path) -> pd.DataFrame:
    """pacemaker's `metrics.txt` (one whitespace-separated row per BFGS iteration) as a DataFrame
    with at least `iter_num` and `loss`; raises TrainingError if it is missing or empty."""
    if not metrics_txt.is_file() or metrics_txt.stat().st_size == 0:
        raise TrainingError(f"{metrics_txt}: pacemaker wrote no loss history")
    table = pd.read_csv(metrics_txt, sep=r"\s+")
    if table.empty or not {"iter_num", "loss"} <= set(table.columns):
        raise TrainingError(f"{metrics_txt}: no 'iter_num'/'loss' rows in pacemaker's loss history")
    return table


def summarize_loss(history: pd.DataFrame, source: Path) -> dict:
    """Initial/final loss and iteration count of one fit; TrainingError if the loss went NaN/inf.

    The final loss is the smallest finite one seen: BFGS only accepts steps that lower the loss,
    and pacemaker keeps the best state of the cycle.
    """
    loss = pd.to_numeric(history["loss"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(loss)
    if bad.any():
        it = int(history["iter_num"].to_numpy()[int(np.argmax(bad))])
        raise TrainingError(f"pacemaker loss became non-finite ({loss[bad][0]}) at iteration {it} (see {source})")
    return {
        "loss_initial": float(loss[0]),
        "loss_final": float(loss.min()),
        "n_iterations": int(history["iter_num"].max()),
    }


def _tail(path: Path, n: int = LOG_TAIL_LINES) -> str:
    if not path.is_file():
        return "(no log)"
    lines = path.read_text(errors="replace").splitlines()
    return "\n".join(lines[-n:])


class PacemakerTrainer:
    """`Trainer` running a real pacemaker fit (see module docstring)."""

    def __init__(self, cfg: PacemakerTrainerConfig):
        self.cfg = cfg

    def check_setup(self) -> None:
        """Preflight: the pacemaker environment exists and has its modules (no TensorFlow import)."""
        check_pacemaker_setup(self.cfg)

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

        The yaml is renamed into place last, after the yace and asi derived from it exist, so a
        present potential.yaml means a complete potential. Raises TrainingError if pacemaker
        fails or its loss turns NaN (the previous potential is then kept by the caller).
        """
        python = check_pacemaker_setup(self.cfg)
        t0 = time.perf_counter()
        out_dir = Path(out_dir)
        if not dataset:
            raise TrainingError("no training structures")
        check_labels_finite(dataset)
        elements = sorted({s for atoms in dataset for s in atoms.get_chemical_symbols()})
        df = frames_to_dataframe(dataset, reference_energies)
        refs = {el: float(reference_energies[el]) for el in elements}

        ladder = None
        if self.cfg.ladder is not None:  # pacemaker's ladder on the training share, chosen by the held-out share
            ladder = fit_with_ladder(self, dataset, out_dir, refs, previous, seed, python)
            fitted, losses, fit_seconds, mode = ladder.fitted, ladder.losses, ladder.seconds, ladder.mode
        else:
            work = self.fresh_work_dir(out_dir)
            upfit_from = previous if (self.cfg.upfit and previous is not None) else None
            potential_section, mode = self._potential_section(elements, upfit_from, work, df)
            fitted, losses, fit_seconds = self.run_fit(dataset, work, potential_section, refs, seed, python)

        # checked before the rename: a potential that predicts NaN never becomes potential.yaml
        train = write_potential_files(fitted, df, dataset, out_dir)

        shutil.rmtree(out_dir / SCRATCH_DIR)  # holds a copy of the data set per fit; the log and metrics are kept

        metrics = {
            "trainer": "pacemaker",
            "train_energy_rmse_per_atom": train["energy_rmse_per_atom"],
            "train_force_rmse": train["force_rmse"],
            **losses,
            "start": mode,
            "n_structures": len(dataset),
            "n_atoms": int(df["NUMBER_OF_ATOMS"].sum()),
            "n_functions": int(fitted.total_number_of_functions),
            "n_parameters": len(fitted.get_all_coeffs()),
            "elements": elements,
            "pacemaker_time_s": fit_seconds,
            "wall_time_s": time.perf_counter() - t0,
        }
        if ladder is not None:
            metrics["ladder"] = ladder.record.model_dump()
        log.info(
            "pacemaker fit (%s): %d structures, %d functions, %d iterations, loss %.4g -> %.4g, "
            "E %.2f meV/atom, F %.1f meV/Å, %.1f s",
            mode, metrics["n_structures"], metrics["n_functions"], metrics["n_iterations"],
            metrics["loss_initial"], metrics["loss_final"], 1e3 * (metrics["train_energy_rmse_per_atom"] or float("nan")),
            1e3 * metrics["train_force_rmse"], metrics["wall_time_s"],
        )
        return metrics

    def calculator(self, potential: PotentialFiles, with_gamma: bool = False) -> Calculator:
        return ace_calculator(potential, with_gamma=with_gamma)

    # -- steps of a fit, also used by the ladder fitting (pacemaker_ladder) --------------------
    @staticmethod
    def fresh_work_dir(out_dir: Path) -> Path:
        work = Path(out_dir) / SCRATCH_DIR
        if work.exists():  # leftovers of a crashed attempt: pacemaker would append to its files
            shutil.rmtree(work)
        work.mkdir(parents=True)
        return work

    def run_fit(self, frames: Sequence[Atoms], work: Path, potential_section, refs: dict[str, float], seed: int,
                python: Path, extra_fit: dict | None = None):
        """One pacemaker run in `work` on `frames`; returns the fitted configuration (reference
        energies set, ZBL placed), the loss summary and pacemaker's wall time. `extra_fit` adds
        keys to input.yaml's `fit:` (the ladder's ladder_step / ladder_type)."""
        # extxyz, not a pickle: the pacemaker environment's pandas may not read this one's pickles;
        # pacemaker_driver.py builds the DataFrame (data.pkl.gzip) there
        to_write = list(frames)
        if has_partial_trust(frames):  # cut-outs: pacemaker uses given weight columns as they are
            w_energy, w_forces = pacemaker_weights(frames)
            to_write = []  # the weight columns cross to the pacemaker env inside the extxyz
            for atoms, we, wf in zip(frames, w_energy, w_forces):
                a = atoms.copy()
                a.calc = atoms.calc
                a.info[pacemaker_driver.W_ENERGY_KEY] = float(we)
                a.arrays[pacemaker_driver.W_FORCES_KEY] = np.asarray(wf, dtype=float)
                to_write.append(a)
        write_frames_extxyz(to_write, work / DATA_XYZ)
        input_yaml = {
            "seed": library_seed(seed),  # pacemaker calls np.random.seed: < 2**32
            "metadata": {"origin": "mlip_autopipec PacemakerTrainer"},
            # pacemaker recomputes energy_corrected from these (same values as the DataFrame) and
            # stores them in the potential's metadata; giving them explicitly also stops it from
            # silently switching to its least-squares `auto` references for unusual energies.
            "data": {"filename": "data.pkl.gzip", "reference_energy": refs},
            "potential": potential_section,
            "fit": {
                "loss": {"kappa": float(self.cfg.kappa), "L1_coeffs": L1_COEFFS, "L2_coeffs": L2_COEFFS},
                "optimizer": "BFGS",
                "maxiter": int(self.cfg.max_iterations),
                # ZBL core repulsion (pacemaker puts its inner cutoff at the shortest distance in
                # the data; `_place_core_repulsion` moves it below, see ZBL_INNER_FRACTION)
                **({"repulsion": "auto"} if self.cfg.repulsion != "none" else {}),
                **(extra_fit or {}),
            },
            "backend": {"evaluator": "tensorpot", "batch_size": BATCH_SIZE, "display_step": DISPLAY_STEP},
        }
        (work / "input.yaml").write_text(yaml.safe_dump(input_yaml, sort_keys=False))

        fit_seconds = self._run_pacemaker(work, python)
        history = read_loss_history(work / "metrics.txt")
        copy_file(work / "metrics.txt", work.parent / METRICS_NAME)
        losses = summarize_loss(history, work.parent / METRICS_NAME)
        fitted = self.finish_potential(work / "output_potential.yaml", refs)
        return fitted, losses, fit_seconds

    def finish_potential(self, path: Path, refs: dict[str, float]):
        """A potential pacemaker wrote, ready to use: finite coefficients checked, the reference
        energies recorded, the ZBL inner cutoff placed (repulsion: zbl)."""
        fitted = BBasisConfiguration(str(path))
        coeffs = np.asarray(fitted.get_all_coeffs(), dtype=float)
        if not np.isfinite(coeffs).all():
            raise TrainingError(f"pacemaker produced non-finite coefficients ({path})")
        set_reference_energies(fitted, refs)
        if self.cfg.repulsion == "zbl":
            _place_core_repulsion(fitted, ZBL_INNER_FRACTION)
        return fitted

    def add_core_repulsion(self, bconf, shortest: dict) -> None:
        """ZBL below the shortest distance per bond ({(mu_i, mu_j): Å}) as `repulsion` asks, for
        potentials pacemaker saved without it (its ladder steps: `auto` reaches the final one only)."""
        if self.cfg.repulsion != "none":
            fraction = ZBL_INNER_FRACTION if self.cfg.repulsion == "zbl" else 1.0
            setup_zbl_inner_core_repulsion(bconf, {bond: fraction * d for bond, d in shortest.items()})

    @staticmethod
    def keep_run_files(out_dir: Path, prefix: str) -> None:
        """Copy the last run's log, input and loss table to `<prefix>.log/_input.yaml/_metrics.txt`
        in `out_dir` (a later run in the same fit writes the plain names again)."""
        for src, suffix in ((LOG_NAME, ".log"), (INPUT_NAME, "_input.yaml"), (METRICS_NAME, "_metrics.txt")):
            copy_file(Path(out_dir) / src, Path(out_dir) / f"{prefix}{suffix}")

    def _potential_section(self, elements: list[str], previous: PotentialFiles | None, work: Path, df):
        """pacemaker's `potential:` value and a label of how the fit starts.

        "scratch": a fresh two-density basis from cfg.basis (zero coefficients); "linear": the
        linear ACE solution of the same basis (closed form, seconds), so BFGS starts at linear
        ACE's optimum and only improves the fit; "upfit": the previous fitted potential, optimised
        further; "extend": the previous potential plus functions for new elements.
        """
        basis = self.cfg.basis
        linear = self.cfg.start == "linear"
        if previous is None:
            if linear:
                return self.linear_start(elements, df, work), "linear"
            return ace_potential_config(elements, basis.cutoff, basis.number_of_functions_per_element,
                                        basis.max_order, linear=False), "scratch"
        prev_yaml = Path(previous.yaml)
        if not prev_yaml.is_file():
            raise TrainingError(f"{prev_yaml}: previous potential missing (needed for upfit)")
        conf = BBasisConfiguration(str(prev_yaml))
        meta = conf.metadata
        # pacemaker skips the fit entirely if the start potential records finished fit cycles
        for key in ("_fit_cycles", "_loss"):
            if key in meta:
                del meta[key]
        conf.metadata = meta
        conf.save(str(work / "previous.yaml"))
        prev_elements = sorted(ACEBBasisSet(conf).elements_name)
        if set(elements) <= set(prev_elements):
            return "previous.yaml", "upfit"
        log.warning("previous potential has elements %s but the data has %s: extending it with "
                    "functions for the new elements (pacemaker initial_potential)", prev_elements, elements)
        extended = ace_potential_config(sorted(set(elements) | set(prev_elements)), basis.cutoff,
                                        basis.number_of_functions_per_element, basis.max_order,
                                        linear=conf.funcspecs_blocks[0].ndensityi == 1)
        # `repulsion: auto` gave the previous blocks a ZBL inner cutoff; pacemaker refuses to mix
        # inner-cutoff types between blocks, so the new blocks start with the same type (their
        # ZBL parameters are set from the data after the fit)
        inner_types = {block.inner_cutoff_type for block in conf.funcspecs_blocks
                       if len(block.elements_vec) <= 2}
        if len(inner_types) == 1:
            extended["bonds"]["ALL"]["inner_cutoff_type"] = inner_types.pop()
        extended["initial_potential"] = "previous.yaml"
        return extended, "extend"

    def linear_start(self, elements: list[str], df, work: Path, bconf=None) -> str:
        """Solve the linear ACE fit of cfg.basis, or of the linear-embedding configuration `bconf`
        (its radial functions as they are), with kappa as its energy weight, and save it as
        pacemaker's start potential; returns the file name (relative to `work`)."""
        from ...domain_models.config import LinearAceTrainerConfig
        from .linear_ace import LinearAceTrainer

        basis = self.cfg.basis
        kappa = min(max(float(self.cfg.kappa), 1e-6), 1 - 1e-6)
        linear = LinearAceTrainer(LinearAceTrainerConfig(basis=basis, energy_weight=(1 - kappa) / kappa))
        if bconf is None:
            bconf = build_basis_config(elements, basis.cutoff, basis.number_of_functions_per_element,
                                       basis.max_order, linear=True)
        start = linear.solve_basis(bconf, df).to_BBasisConfiguration()
        start.save(str(work / LINEAR_START))
        return LINEAR_START

    def _run_pacemaker(self, work: Path, python: Path) -> float:
        """Run pacemaker_driver.py (DataFrame, then pacemaker) with the pacemaker interpreter in
        `work`; its combined output becomes out_dir/pacemaker.log (also on failure, so the reason
        can be read). Returns the wall time in seconds."""
        cmd = [str(python), str(Path(pacemaker_driver.__file__).resolve()), DATA_XYZ, "input.yaml"]
        env = clean_env()  # the driver needs nothing from this package, nor the main env's numpy
        env.setdefault("MPLBACKEND", "Agg")  # pacemaker plots the data distribution; no display
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.setdefault("TF_USE_LEGACY_KERAS", "1")  # tensorpotential is written for Keras 2 (tf_keras)
        raw_log = work / "pacemaker.out"
        log.info("running pacemaker (%d BFGS iterations) in %s", self.cfg.max_iterations, work)
        t0 = time.perf_counter()
        with open(raw_log, "wb") as out:
            proc = subprocess.run(cmd, cwd=work, stdout=out, stderr=subprocess.STDOUT, env=env,
                                  stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - t0
        copy_file(raw_log, work.parent / LOG_NAME)
        copy_file(work / "input.yaml", work.parent / INPUT_NAME)
        if proc.returncode != 0:
            raise TrainingError(
                f"pacemaker failed (exit code {proc.returncode}) after {seconds:.0f} s; "
                f"log: {work.parent / LOG_NAME}; last lines:\n{_tail(raw_log)}"
            )
        if not (work / "output_potential.yaml").is_file():
            raise TrainingError(f"pacemaker wrote no output_potential.yaml (log: {work.parent / LOG_NAME})")
        return seconds


def _place_core_repulsion(bconf, fraction: float) -> None:
    """Move every ZBL inner cutoff r_in (pacemaker's: the shortest distance in the data) to
    `fraction` of it. The fit is unchanged: pacemaker attaches the ZBL after fitting, and no
    training distance lies between the new and the old r_in."""
    blocks = bconf.funcspecs_blocks
    for block in blocks:
        if block.inner_cutoff_type == "zbl" and block.r_in > 0:
            block.r_in = float(block.r_in) * fraction
    bconf.funcspecs_blocks = blocks


def write_frames_extxyz(frames: Sequence[Atoms], path: Path) -> None:
    """Labelled frames (energy, forces, stress when present) as extended XYZ, atomically."""
    from ase.io import write

    with atomic_path(path) as tmp:
        write(str(tmp), list(frames), format="extxyz")


__all__ = ["PacemakerTrainer", "check_pacemaker_setup", "read_loss_history", "summarize_loss",
           "write_frames_extxyz"]
