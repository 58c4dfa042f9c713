"""REFINE: halt structures → local swarm of candidates → the most informative selection."""

from __future__ import annotations

import logging
import time

from ..components.base import PotentialFiles
from ..components.registry import make_selector, make_trainer
from ..core.candidate_generator import generate_swarm
from ..core.io import read_json, read_structures, write_structures
from ..core.seeds import derive_seed, rng_for
from ..domain_models.state import Decision

log = logging.getLogger(__name__)


def run_collect_halts(record_files: list[str], frame_files: list[str], out_halt: str) -> int:
    """halt.xyz: the halt frame (last extrapolative frame) of every condition that halted."""
    halts = []
    for rec_file, frames_file in zip(record_files, frame_files):
        if read_json(rec_file)["halted"]:
            frames = read_structures(frames_file)
            if frames:
                halts.append(frames[-1])
    write_structures(out_halt, halts)
    log.info("REFINE: %d halt structure(s)", len(halts))
    return len(halts)


def pick_spot_checks(samples_per_condition: list[list], n: int, rng) -> list:
    """`n` frames spread over the conditions: round-robin over conditions, a random not yet picked
    frame of each in turn; every pick is tagged `spot_check` (labelled as is, never selected away)."""
    pools = [list(s) for s in samples_per_condition]
    picks = []
    while len(picks) < n and any(pools):
        for pool in pools:
            if pool and len(picks) < n:
                picks.append(pool.pop(int(rng.integers(len(pool)))))
    for atoms in picks:
        atoms.info["spot_check"] = True
    return picks


def _strip(atoms):
    clean = atoms.copy()
    clean.calc = None
    for key in ("gamma",):  # info (condition, spot_check) is kept
        if key in clean.arrays:
            del clean.arrays[key]
    return clean


def run_candidates(rcfg, iteration: int, halt_file: str, frame_files: list[str], potential_dir: str,
                   out_candidates: str, decision_file: str | None = None,
                   sample_files: list[str] | None = None) -> int:
    cfg = rcfg.cfg
    if decision_file is not None and Decision.model_validate(read_json(decision_file)).spot_check:
        samples = [read_structures(f) for f in sample_files or []]
        picks = pick_spot_checks(samples, cfg.convergence.spot_checks, rng_for(cfg.seed, "spot_check", iteration))
        write_structures(out_candidates, [_strip(a) for a in picks])
        log.info("REFINE iter %d: %d spot-check frame(s) sampled from %d exploration(s)", iteration, len(picks),
                 len(samples))
        return len(picks)
    halts = read_structures(halt_file)
    trainer = make_trainer(cfg.trainer)
    calc = trainer.calculator(PotentialFiles.in_dir(potential_dir), with_gamma=False)
    candidates = []
    t0 = time.perf_counter()
    for k, halt in enumerate(halts):
        swarm = generate_swarm(_strip(halt), calc, cfg.candidates, rng_for(cfg.seed, "swarm", iteration, k))
        for atoms in swarm:
            atoms.info["halt_index"] = k
        candidates.extend(swarm)
        if cfg.candidates.include_extrapolative:
            halt_copy = _strip(halt)
            halt_copy.info["generator"] = "halt"
            candidates.append(halt_copy)
    if cfg.candidates.include_extrapolative:
        for f in frame_files:  # extrapolative frames seen before the halts
            for frame in read_structures(f)[:-1]:
                extra = _strip(frame)
                extra.info["generator"] = "extrapolative"
                candidates.append(extra)
    write_structures(out_candidates, candidates)
    log.info("REFINE iter %d: %d candidates from %d halt(s) in %.1f s", iteration, len(candidates),
             len(halts), time.perf_counter() - t0)
    return len(candidates)


def run_select(rcfg, iteration: int, candidates_file: str, potential_dir: str, out_selected: str) -> int:
    cfg = rcfg.cfg
    candidates = read_structures(candidates_file)
    selector = make_selector(cfg.selection)
    t0 = time.perf_counter()
    if candidates and all(a.info.get("spot_check") for a in candidates):
        chosen = list(range(len(candidates)))  # spot checks are labelled as they are, not selected
    else:
        chosen = selector.select(candidates, PotentialFiles.in_dir(potential_dir), cfg.selection.n_select,
                                 derive_seed(cfg.seed, "select", iteration)) if candidates else []
    selected = []
    for rank, i in enumerate(chosen):
        atoms = candidates[i]
        atoms.info["candidate_index"] = int(i)
        atoms.info["selection_rank"] = rank
        selected.append(atoms)
    write_structures(out_selected, selected)
    log.info("REFINE iter %d: selected %d of %d candidates (%s) in %.1f s", iteration, len(selected),
             len(candidates), cfg.selection.kind, time.perf_counter() - t0)
    return len(selected)
