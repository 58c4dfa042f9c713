"""An optional held-out set: a user file, or oracle-labelled MD frames of the starting structures.

Generated frames come from MD with the oracle itself (cheap for EMT; for DFT oracles give a file),
at the configured temperatures, so they are independent of any potential the loop trains.
"""

from __future__ import annotations

import logging

import numpy as np

from ..components.registry import make_oracle
from ..core.errors import UserError
from ..core.io import read_structures, write_structures
from ..core.seeds import derive_seed, rng_for
from .cutout_stage import cutouts_without_gamma
from .initial import starting_structures

log = logging.getLogger(__name__)


def oracle_md_frames(atoms, oracle, temperature: float, n: int, seed: int, stride: int = 20) -> list:
    """`n` unlabelled snapshots of oracle-driven Langevin MD, `stride` steps apart."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    work = atoms.copy()
    work.calc = oracle.calculator()
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(work, temperature_K=temperature, rng=rng)
    dyn = Langevin(work, 2 * units.fs, temperature_K=temperature, friction=0.02, rng=rng)
    frames = []
    for _ in range(n):
        dyn.run(stride)
        snap = work.copy()
        snap.calc = None
        frames.append(snap)
    return frames


def run_validation_set(rcfg, out_file: str) -> int:
    vcfg = rcfg.cfg.validation
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
        per = max(1, vcfg.n_generated // (len(structures) * len(vcfg.temperatures)))
        for i, atoms in enumerate(structures):
            for t in vcfg.temperatures:
                snaps += oracle_md_frames(atoms, oracle, t, per, derive_seed(rcfg.cfg.seed, "validation", i, t))
        # labeling.max_atoms: the oracle labels cut-outs of the large frames, as everywhere else (their
        # energies and boundary forces are no labels: the errors skip them, core/metrics.py)
        snaps = cutouts_without_gamma(rcfg.cfg, snaps, rng_for(rcfg.cfg.seed, "validation_cutouts"),
                                      what="validation frame")
        frames = [oracle.label(s) for s in snaps]
    write_structures(out_file, frames)
    log.info("VALIDATION: %d held-out structures", len(frames))
    return len(frames)
