"""An optional held-out set: a user file, or oracle-labelled MD frames of the starting structures.

Generated frames come from MD with the oracle itself (cheap for EMT; for DFT oracles give a file),
at the configured temperatures (by default the exploration's), so they are independent of any
potential the loop trains. The MD runs at the system's time step (`OTFConfig.md_timestep_fs`: 0.5 fs
with H, 2 fs for metals); the user's own structures' frames stay FRAME_SPACING_FS apart in time
whatever the step (20 steps of 2 fs; 80 of 0.5 fs), so a light system's frames are no more
correlated than a metal's. The portfolio's `validation_stride`/`validation_warmup` are steps.
"""

from __future__ import annotations

import logging

import numpy as np

from ..components.registry import make_oracle
from ..core.errors import UserError
from ..core.io import read_structures, write_structures
from ..core.seeds import derive_seed, rng_for
from .cutout_stage import cutouts_without_gamma
from ..domain_models.portfolio_config import portfolio_conditions
from ..sampling.md_snapshots import langevin_snapshots
from .initial import starting_structures

log = logging.getLogger(__name__)

FRAME_SPACING_FS = 40.0  # fs between the generated frames of the user's own structures


def oracle_md_frames(atoms, oracle, temperature: float, n: int, seed: int, timestep_fs: float,
                     stride: int | None = None, warmup: int = 0) -> list:
    """`n` unlabelled snapshots of oracle-driven Langevin MD at `timestep_fs`, `stride` steps apart
    (default: FRAME_SPACING_FS in steps of `timestep_fs`) after `warmup` steps (labelled by the caller,
    after any cut-outs)."""
    if stride is None:
        stride = max(1, round(FRAME_SPACING_FS / timestep_fs))
    return langevin_snapshots(atoms, oracle.calculator(), temperature, n, np.random.default_rng(seed),
                              stride=stride, warmup=warmup, timestep_fs=timestep_fs)


def frames_per_run(n: int, runs: int) -> list[int]:
    """`n` frames over `runs` MD runs (structure x temperature), the first `n % runs` one more, at least
    one each: exactly `validation.n_generated` frames whenever there are fewer runs than frames."""
    return [max(1, n // runs + (k < n % runs)) for k in range(runs)]


def portfolio_frames(rcfg, oracle, structures, only: str | None = None) -> list:
    """The portfolio's held-out set: per condition, `validation_frames` frames of oracle MD of its
    structure at its temperature (NVT), tagged with the condition's kind (info['kind']) so errors are
    reported per kind. Seeds: the 'validation' stream, which no selection or fit draws from."""
    p = rcfg.cfg.portfolio
    frames = []
    for cond in rcfg.cfg.exploration.conditions:
        if cond.kind is None or (only is not None and cond.name != only):
            continue
        seed = derive_seed(rcfg.cfg.seed, "validation", "portfolio", cond.name)
        got = oracle_md_frames(structures[cond.structure], oracle, cond.temperature, p.validation_frames, seed,
                               rcfg.cfg.md_timestep_fs(), stride=p.validation_stride, warmup=p.validation_warmup)
        got = [oracle.label(atoms) for atoms in got]
        for atoms in got:
            atoms.info["kind"] = cond.kind
            atoms.info["condition"] = cond.name
        frames += got
        log.info("VALIDATION %s: %d frames of oracle MD at %.0f K", cond.name, len(got), cond.temperature)
    return frames


def _md_oracle(rcfg):
    oracle = make_oracle(rcfg.cfg.oracle)
    if not hasattr(oracle, "calculator"):
        raise UserError(f"{rcfg.path}: portfolio.validation_frames needs a cheap oracle (emt, mock) to run "
                        f"MD with; set portfolio.validation_frames: 0 or give a labelled validation.file")
    return oracle


def run_validation_part(rcfg, condition: str, out_file: str) -> int:
    """One portfolio condition's held-out frames (its own job: they scale out like the explorations)."""
    frames = portfolio_frames(rcfg, _md_oracle(rcfg), starting_structures(rcfg), only=condition)
    write_structures(out_file, frames)
    return len(frames)


def run_validation_set(rcfg, out_file: str, part_files: list[str] | None = None) -> int:
    """The held-out set; with a portfolio, `part_files` are its conditions' frames (run_validation_part),
    in config order (made here when not given)."""
    vcfg = rcfg.cfg.validation
    if portfolio_conditions(rcfg.cfg):
        oracle = _md_oracle(rcfg)
        if part_files is None:
            frames = portfolio_frames(rcfg, oracle, starting_structures(rcfg))
        else:
            frames = [f for path in part_files for f in read_structures(path)]
        if vcfg.n_generated:  # the user's own structures too, as before
            own = [k for k, s in enumerate(rcfg.cfg.structures) if s.kind != "portfolio"]
            runs = [(i, t) for i in own for t in vcfg.temperatures]
            structures = starting_structures(rcfg)
            for (i, t), per in zip(runs, frames_per_run(vcfg.n_generated, len(runs))):
                frames += [oracle.label(s) for s in oracle_md_frames(
                    structures[i], oracle, t, per, derive_seed(rcfg.cfg.seed, "validation", i, t),
                    rcfg.cfg.md_timestep_fs())]
        write_structures(out_file, frames)
        log.info("VALIDATION: %d held-out structures", len(frames))
        return len(frames)
    if vcfg.file:
        frames = read_structures(rcfg.resolve(vcfg.file), allow_empty=False)
        if any(f.calc is None for f in frames):
            raise UserError(f"{rcfg.resolve(vcfg.file)}: validation frames need energies and forces (extxyz)")
    else:
        oracle = make_oracle(rcfg.cfg.oracle)
        if not hasattr(oracle, "calculator"):
            raise UserError(f"{rcfg.path}: validation.n_generated needs a cheap oracle (emt, mock) to run "
                            f"MD with; give a labelled validation.file instead")
        structures = starting_structures(rcfg)
        snaps = []
        runs = [(i, t) for i in range(len(structures)) for t in vcfg.temperatures]
        for (i, t), per in zip(runs, frames_per_run(vcfg.n_generated, len(runs))):
            snaps += oracle_md_frames(structures[i], oracle, t, per, derive_seed(rcfg.cfg.seed, "validation", i, t),
                                      rcfg.cfg.md_timestep_fs())
        # labeling.max_atoms: the oracle labels cut-outs of the large frames, as everywhere else (their
        # energies and boundary forces are no labels: the errors skip them, core/metrics.py)
        snaps = cutouts_without_gamma(rcfg.cfg, snaps, rng_for(rcfg.cfg.seed, "validation_cutouts"),
                                      what="validation frame")
        frames = [oracle.label(s) for s in snaps]
    write_structures(out_file, frames)
    log.info("VALIDATION: %d held-out structures", len(frames))
    return len(frames)
