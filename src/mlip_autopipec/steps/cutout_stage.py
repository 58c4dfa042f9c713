"""Large structures to label become cut-outs (labeling.max_atoms): the initial data, the halts with
their swarm, the extrapolative frames, the spot checks and the generated validation frames. With
max_atoms null nothing here runs."""

from __future__ import annotations

import logging

import numpy as np
from ase import Atoms

from ..sampling.cutout_swarm import cutout_swarm
from ..sampling.cutouts import (
    centres_farthest_point,
    centres_from_gamma,
    check_cell_holds,
    fitted_cutout,
    resolve_geometry,
)

log = logging.getLogger(__name__)

DEFAULT_ACE_CUTOFF = 5.0  # trainers without a basis (mock) size cut-outs as the default basis


def ace_cutoff(cfg) -> float:
    basis = getattr(cfg.trainer, "basis", None)
    return float(basis.cutoff) if basis is not None else DEFAULT_ACE_CUTOFF


def is_large(cfg, atoms: Atoms) -> bool:
    return cfg.labeling.max_atoms is not None and len(atoms) > cfg.labeling.max_atoms


def geometry(cfg, parent: Atoms, source: str):
    geom = resolve_geometry(cfg.labeling.cutouts, cfg.labeling.max_atoms, ace_cutoff(cfg), parent, source)
    check_cell_holds(parent, geom, source)
    return geom


def cutout(cfg, parent: Atoms, centre: int, geom, calculator=None) -> Atoms:
    return fitted_cutout(parent, centre, geom, cfg.labeling.cutouts, cfg.labeling.max_atoms, calculator)


def _carry_info(cut: Atoms, parent: Atoms, centre: int) -> Atoms:
    for key, value in parent.info.items():
        cut.info.setdefault(key, value)
    cut.info["cutout_centre"] = int(centre)
    return cut


def cutouts_without_gamma(cfg, frames: list[Atoms], rng: np.random.Generator, calculator=None,
                          what: str = "initial structure") -> list[Atoms]:
    """Every frame larger than max_atoms replaced by cut-outs around farthest-point-sampled centres
    (no gamma needed: they cover the frame's distinct environments), each carrying its parent's
    info; smaller frames stay as they are. Initial data: no potential, boxes are not relaxed;
    spot checks and validation frames: boxes healed by `calculator` when given."""
    out = []
    for k, frame in enumerate(frames):
        if not is_large(cfg, frame):
            out.append(frame)
            continue
        source = f"{what} {k} ({len(frame)} atoms)"
        geom = geometry(cfg, frame, source)
        centres = centres_farthest_point(frame, ace_cutoff(cfg), cfg.labeling.cutouts.per_structure,
                                         geom.cover_radius, rng)
        cuts = [_carry_info(cutout(cfg, frame, c, geom, calculator), frame, c) for c in centres]
        log.info("CUTOUTS %s: %d cut-outs of %s atoms, %s core atoms (centres %s)", source, len(cuts),
                 [len(c) for c in cuts], [int(c.arrays["force_weight"].sum()) for c in cuts], centres)
        out.extend(cuts)
    return out


def cutouts_from_gamma(cfg, frame: Atoms, gamma: np.ndarray, calculator, source: str,
                       n_max: int | None = None) -> list[Atoms]:
    """Cut-outs around the extrapolative atoms of one large frame (boxes healed by `calculator`);
    at most `n_max` (default labeling.cutouts.per_structure)."""
    geom = geometry(cfg, frame, source)
    n_max = cfg.labeling.cutouts.per_structure if n_max is None else n_max
    centres = centres_from_gamma(frame, gamma, cfg.exploration.gamma_select, n_max, geom.cover_radius)
    cuts = []
    for c in centres:
        cut = cutout(cfg, frame, c, geom, calculator)
        cut.info["cutout_centre_gamma"] = round(float(gamma[c]), 4)
        cuts.append(cut)
    log.info("CUTOUTS %s: %d cut-outs (%s atoms, %s core) around gamma %s", source, len(cuts),
             [len(c) for c in cuts], [int(c.arrays["force_weight"].sum()) for c in cuts],
             [round(float(gamma[c]), 2) for c in centres])
    return cuts


def swarm_of_cutouts(cfg, cuts: list[Atoms], calculator, rng: np.random.Generator) -> list[Atoms]:
    out = []
    for j, cut in enumerate(cuts):
        for cand in cutout_swarm(cut, calculator, cfg.candidates, rng, timestep_fs=cfg.md_timestep_fs()):
            cand.info["cutout_index"] = j
            out.append(cand)
    return out
