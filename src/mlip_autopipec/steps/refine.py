"""REFINE: halt structures → local swarm of candidates → the most informative selection."""

from __future__ import annotations

import logging
import time

import numpy as np

from ..components.base import PotentialFiles
from ..components.registry import make_selector, make_trainer
from ..sampling.candidate_generator import candidate_limits, close_atoms, generate_swarm, min_interatomic_distance
from ..core.identity import structure_hash
from ..core.io import read_structures, write_structures
from ..core.seeds import derive_seed, rng_for
from ..domain_models.records import ExplorationRecord, TrainRecord, read_record
from ..domain_models.state import read_decision
from .cutout_stage import cutouts_from_gamma, cutouts_without_gamma, is_large, swarm_of_cutouts

log = logging.getLogger(__name__)


def run_collect_halts(record_files: list[str], frame_files: list[str], out_halt: str, limits=None) -> int:
    """halt.xyz: the halt frame (last extrapolative frame) of every condition that halted.

    With `limits` (the candidates' pair limits), the last extrapolative frame whose atoms keep them: an MD
    segment can collapse between two gamma checks (MgO with an early fit: Mg-Mg 1.3 Å at the halt), and a
    swarm around such a frame cannot keep the limits (the candidates job failed) or, pushed apart, labels
    atoms at the limits' loose floor (O-O 0.8 Å: a held-out score of 4 eV/Å after one iteration). A
    condition whose every frame is collapsed contributes no halt; the log says so."""
    halts = []
    for rec_file, frames_file in zip(record_files, frame_files):
        if read_record(ExplorationRecord, rec_file).halted:
            frames = read_structures(frames_file)
            if not frames:
                continue
            if limits is None:
                halts.append(frames[-1])
                continue
            valid = [k for k, f in enumerate(frames) if not close_atoms(f, limits).size]
            if not valid:
                log.warning("REFINE: %s: all %d extrapolative frame(s) have atoms closer than %s (shortest %.3f Å at "
                            "the halt): no halt structure from it", frames_file, len(frames),
                            limits.describe(frames[-1].numbers), min_interatomic_distance(frames[-1]))
                continue
            if valid[-1] != len(frames) - 1:
                log.warning("REFINE: %s: the halt frame has atoms closer than %s (shortest %.3f Å: the MD collapsed "
                            "between two gamma checks); its halt structure is extrapolative frame %d of %d instead",
                            frames_file, limits.describe(frames[-1].numbers), min_interatomic_distance(frames[-1]),
                            valid[-1] + 1, len(frames))
            halts.append(frames[valid[-1]])
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
                   out_candidates: str, offer_files: list[str] = (), decision_file: str | None = None,
                   sample_files: list[str] | None = None) -> int:
    cfg = rcfg.cfg
    if decision_file is not None and read_decision(decision_file).spot_check:
        samples = [read_structures(f) for f in sample_files or []]
        picks = pick_spot_checks(samples, cfg.convergence.spot_checks, rng_for(cfg.seed, "spot_check", iteration))
        checks = [_strip(a) for a in picks]
        if cfg.labeling.max_atoms is not None:  # what the oracle is given is bounded, spot checks included
            calc = make_trainer(cfg.trainer).calculator(PotentialFiles.in_dir(potential_dir), with_gamma=False)
            checks = cutouts_without_gamma(cfg, checks, rng_for(cfg.seed, "spot_check_cutouts", iteration), calc,
                                           what=f"iter {iteration} spot check")
        write_structures(out_candidates, checks)
        log.info("REFINE iter %d: %d spot-check frame(s) sampled from %d exploration(s)%s", iteration, len(picks),
                 len(samples), f", labelled as {len(checks)} structure(s)" if len(checks) != len(picks) else "")
        return len(checks)
    halts = read_structures(halt_file)
    trainer = make_trainer(cfg.trainer)
    calc = trainer.calculator(PotentialFiles.in_dir(potential_dir), with_gamma=False)
    candidates = []
    t0 = time.perf_counter()
    if cfg.labeling.max_atoms is not None:  # large cells: the swarm and the frames act on cut-outs
        halts, extra = _large_to_cutouts(cfg, trainer, potential_dir, calc, halts, frame_files, iteration)
        candidates.extend(extra)
    for k, halt in enumerate(halts):
        if "cutout_kind" in halt.info:
            swarm = swarm_of_cutouts(cfg, [halt], calc, rng_for(cfg.seed, "swarm", iteration, k))
            _from_halt(swarm, halt, k)
            candidates.extend(swarm)
            if cfg.candidates.include_extrapolative:
                halt_copy = halt.copy()
                halt_copy.info["generator"] = "halt"
                candidates.append(halt_copy)
            continue
        swarm = generate_swarm(_strip(halt), calc, cfg.candidates, rng_for(cfg.seed, "swarm", iteration, k),
                               timestep_fs=cfg.md_timestep_fs())
        _from_halt(swarm, halt, k)
        candidates.extend(swarm)
        if cfg.candidates.include_extrapolative:
            halt_copy = _strip(halt)
            halt_copy.info["generator"] = "halt"
            candidates.append(halt_copy)
    if cfg.candidates.include_extrapolative and cfg.labeling.max_atoms is None:
        # every other extrapolative frame: a halted condition's last frame is its halt (added above),
        # a condition that ran through has no halt frame, so all of its frames count
        halt_keys = {structure_hash(h) for h in halts}
        limits = candidate_limits(cfg.candidates)
        for f in frame_files:
            for frame in read_structures(f):
                if structure_hash(frame) in halt_keys or close_atoms(frame, limits).size:
                    continue  # a collapsed frame (run_collect_halts) is no label worth paying for
                extra = _strip(frame)
                extra.info["generator"] = "extrapolative"
                candidates.append(extra)
    for f in offer_files:  # convergence.properties: property structures the potential misses most
        candidates.extend(_strip(a) for a in read_structures(f))
    write_structures(out_candidates, candidates)
    log.info("REFINE iter %d: %d candidates from %d halt(s) in %.1f s", iteration, len(candidates),
             len(halts), time.perf_counter() - t0)
    return len(candidates)


def _from_halt(swarm: list, halt, k: int) -> None:
    """Tag a halt's swarm with its halt and the exploration condition that halted (`selection.spread`
    takes the picks one condition in turn; the fit's per-kind errors group by it)."""
    for atoms in swarm:
        atoms.info["halt_index"] = k
        if "condition" in halt.info:
            atoms.info["condition"] = halt.info["condition"]


def _gamma_of(frame, gamma_calc):
    from ..components.ace.common import per_atom_gamma  # pyace: only for real potentials

    if "gamma" in frame.arrays:
        return np.asarray(frame.arrays["gamma"], dtype=float)
    return per_atom_gamma(gamma_calc, _strip(frame))


def _large_to_cutouts(cfg, trainer, potential_dir, calc, halts, frame_files, iteration):
    """(halts with every large one replaced by its cut-outs, cut-outs of the large extrapolative
    frames seen before the halts); small structures stay as they are."""
    gamma_calc = trainer.calculator(PotentialFiles.in_dir(potential_dir), with_gamma=True)
    new_halts = []
    for k, halt in enumerate(halts):
        if is_large(cfg, halt):
            new_halts.extend(cutouts_from_gamma(cfg, _strip(halt), _gamma_of(halt, gamma_calc), calc,
                                                f"iter {iteration} halt {k} ({len(halt)} atoms)"))
        else:
            new_halts.append(halt)
    extra = []
    if cfg.candidates.include_extrapolative:
        for f in frame_files:
            for j, frame in enumerate(read_structures(f)[:-1]):
                # one cut-out per earlier frame (its most extrapolative atom): the halt has the swarm
                pieces = (cutouts_from_gamma(cfg, _strip(frame), _gamma_of(frame, gamma_calc), calc,
                                             f"{f} frame {j}", n_max=1) if is_large(cfg, frame) else [_strip(frame)])
                for piece in pieces:
                    piece.info["generator"] = "extrapolative"
                    extra.append(piece)
    return new_halts, extra


def run_select(rcfg, iteration: int, candidates_file: str, potential_dir: str, out_selected: str,
               cheap_file: str | None = None, train_record_file: str | None = None) -> int:
    """Choose the candidates the oracle labels. Two-level labelling (`cheap_file`: the cheap labels of every
    candidate): `two_level.disagreement_share` of them by the largest disagreement between those labels and
    the current potential, the rest by the selector (selectors/two_level.py); the share drops to 0 when
    the exploring potential's fit (`train_record_file`) found the cheap level further from the expensive
    labels than the potential itself (`trusted_share`)."""
    cfg = rcfg.cfg
    candidates = read_structures(candidates_file)
    selector = make_selector(cfg.selection)
    potential = PotentialFiles.in_dir(potential_dir)
    seed = derive_seed(cfg.seed, "select", iteration)
    t0 = time.perf_counter()
    why: dict[int, tuple[str, float]] = {}
    if candidates and all(a.info.get("spot_check") for a in candidates):
        chosen = list(range(len(candidates)))  # spot checks are labelled as they are, not selected
    elif cheap_file is not None and candidates:
        from ..components.selectors import two_level as TL

        calc = make_trainer(cfg.trainer).calculator(potential)
        dis = TL.disagreements(candidates, read_structures(cheap_file), calc)
        fit = read_record(TrainRecord, train_record_file).two_level if train_record_file else None
        share, share_why = TL.trusted_share(cfg.two_level.disagreement_share, getattr(fit, "cheap_only_score", None),
                                            getattr(fit, "expensive_only_score", None))
        log.info("REFINE iter %d: disagreement share %.2g (%s)", iteration, share, share_why)
        pick = TL.pick_expensive(len(candidates), cfg.expensive_per_iteration(), share,
                                 lambda k: selector.select(candidates, potential, k, seed), dis)
        chosen = pick.chosen
        why = {i: (r, float(dis[i])) for i, r in zip(pick.chosen, pick.reasons)}
        log.info("REFINE iter %d: %d by %s, %d by cheap-vs-potential disagreement (largest %.3g eV/Å)", iteration,
                 pick.reasons.count(TL.GAMMA), cfg.selection.kind, pick.reasons.count(TL.DISAGREEMENT),
                 max((float(dis[i]) for i, r in why.items() if r[0] == TL.DISAGREEMENT), default=float("nan")))
    else:
        chosen = selector.select(candidates, potential, cfg.expensive_per_iteration(), seed) if candidates else []
    selected = []
    for rank, i in enumerate(chosen):
        atoms = candidates[i]
        atoms.info["candidate_index"] = int(i)
        atoms.info["selection_rank"] = rank
        if i in why:  # two-level: why the expensive oracle labels it
            atoms.info["selected_by"], atoms.info["cheap_disagreement"] = why[i]
        selected.append(atoms)
    write_structures(out_selected, selected)
    log.info("REFINE iter %d: selected %d of %d candidates (%s) in %.1f s", iteration, len(selected),
             len(candidates), cfg.selection.kind, time.perf_counter() - t0)
    return len(selected)
