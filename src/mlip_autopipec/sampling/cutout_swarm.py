"""The local swarm around a cut-out: only the core moves, the boundary is held.

Perturbing an 821-atom halt cell would waste the oracle on atoms nobody trains, and its normal
modes would need a 2463 x 2463 Hessian. Around a cut-out, the rattle, the MD burst and the normal
modes move the core atoms (the trained ones) and hold everything else, so the cut stays where the
core margin put it. Normal modes are those of the core with the rest held: the Hessian block of the
core's degrees of freedom (6 x n_core force calls); with the boundary held there are no rigid
motions to project out.
"""

from __future__ import annotations

import logging

import numpy as np
from ase import Atoms

from .candidate_generator import (
    candidate_limits,
    close_atoms,
    displace_along_modes,
    harmonic_amplitudes,
    invcm_to_frequency,
    md_burst,
    normal_modes,
    split_counts,
    strip_results,
)
from .cutouts import CUTOUT_INFO, ENERGY_WEIGHT, FORCE_WEIGHT
from ..core.errors import StructureError

log = logging.getLogger(__name__)

def mobile_mask(cut: Atoms) -> np.ndarray:
    return np.asarray(cut.arrays[FORCE_WEIGHT]) > 0


def held_hessian(cut: Atoms, calculator, mobile: np.ndarray, delta: float = 0.01) -> np.ndarray:
    """(3m, 3m) Hessian of the m mobile atoms with the others held, by central differences."""
    dofs = np.repeat(mobile, 3)
    work = strip_results(cut)
    work.calc = calculator
    ref = work.positions.copy()
    cols = np.where(dofs)[0]
    block = np.zeros((cols.size, cols.size))
    for k, j in enumerate(cols):
        a, c = divmod(j, 3)
        f = []
        for sign in (1.0, -1.0):
            pos = ref.copy()
            pos[a, c] += sign * delta
            work.positions = pos
            f.append(work.get_forces().ravel()[cols])
        block[:, k] = -(f[0] - f[1]) / (2.0 * delta)
    return 0.5 * (block + block.T)


def core_normal_modes(cut: Atoms, calculator, n: int, temperature: float, min_distance: float,
                      rng: np.random.Generator, min_frequency_cm: float = 50.0, max_tries: int = 200) -> list[Atoms]:
    """`n` normal-mode samples of the mobile atoms (held boundary), amplitudes by equipartition
    (soft and imaginary modes clipped at `min_frequency_cm`, as in the whole-cell swarm)."""
    mobile = mobile_mask(cut)
    hess = held_hessian(cut, calculator, mobile)
    masses = cut.get_masses()[mobile]
    freqs, modes = normal_modes(hess, masses)
    amps = harmonic_amplitudes(freqs, temperature, invcm_to_frequency(min_frequency_cm))
    return _draws_apart(
        cut, n, lambda scale: displace_along_modes(masses, modes, scale * amps * rng.standard_normal(amps.size)),
        min_distance, max_tries, f"cut-out normal modes: cannot keep atoms apart ({min_distance})")


def _draws_apart(cut: Atoms, n: int, draw, min_distance, max_tries: int, failure: str) -> list[Atoms]:
    """`n` copies of `cut` with `draw(scale)` added to its mobile atoms; a draw with atoms closer than
    `min_distance` is redrawn, and the scale halved after `max_tries` failures in a row (StructureError
    `failure` once it falls below 1e-3)."""
    mobile = mobile_mask(cut)
    out, tries, scale = [], 0, 1.0
    while len(out) < n:
        cand = cut.copy()
        pos = cand.positions
        pos[mobile] += draw(scale)
        cand.positions = pos
        if close_atoms(cand, min_distance).size:
            tries += 1
            if tries >= max_tries:
                scale, tries = 0.5 * scale, 0
                if scale < 1e-3:
                    raise StructureError(failure)
            continue
        out.append(cand)
    return out


def _restore(cut: Atoms, cand: Atoms, held: np.ndarray) -> Atoms:
    out = strip_results(cand)
    out.set_constraint()
    pos = out.positions
    pos[held] = cut.positions[held]
    out.positions = pos
    out.arrays[FORCE_WEIGHT] = np.asarray(cut.arrays[FORCE_WEIGHT]).copy()
    out.info[ENERGY_WEIGHT] = cut.info.get(ENERGY_WEIGHT, 0.0)
    for key in CUTOUT_INFO:
        if key in cut.info:
            out.info[key] = cut.info[key]
    return out


def rattle_core(cut: Atoms, n: int, stdev: float, min_distance: float, rng: np.random.Generator,
                max_tries: int = 50) -> list[Atoms]:
    """`n` copies with Gaussian noise on the mobile atoms only; a draw with atoms closer than
    `min_distance` is redrawn, and the amplitude halved after `max_tries` failures."""
    n_mobile = int(mobile_mask(cut).sum())
    return _draws_apart(cut, n, lambda scale: scale * stdev * rng.standard_normal((n_mobile, 3)), min_distance,
                        max_tries, f"cut-out swarm: cannot keep atoms apart ({min_distance}); lower "
                        "candidates.min_distance")


def cutout_swarm(cut: Atoms, calculator, cfg, rng: np.random.Generator, timestep_fs: float = 2.0) -> list[Atoms]:
    """`cfg.n_candidates` candidates around the cut-out `cut`, mixed as `cfg.mix` says (see module
    docstring); each keeps the cut-out's force weights and info, and is labelled ``generator``.
    `timestep_fs`: the MD bursts' step, the system's (`OTFConfig.md_timestep_fs`)."""
    mobile = mobile_mask(cut)
    held = ~mobile
    weights = {"rattle": cfg.mix.rattle, "md_burst": cfg.mix.md_burst, "normal_modes": cfg.mix.normal_modes}
    if calculator is None:
        weights = {"rattle": 1.0, "md_burst": 0.0, "normal_modes": 0.0}
    counts = split_counts(cfg.n_candidates, weights)
    limits = candidate_limits(cfg)  # per element pair (candidates.min_distance may be null or a table)
    made: dict[str, list[Atoms]] = {}
    if counts["md_burst"]:
        from ase.constraints import FixAtoms

        fixed = cut.copy()
        fixed.set_constraint(FixAtoms(indices=np.where(held)[0]))
        try:
            made["md_burst"] = md_burst(fixed, calculator, counts["md_burst"], cfg.burst_temperature,
                                        cfg.burst_steps, limits, rng, timestep_fs=timestep_fs)
        except StructureError as exc:
            log.warning("cut-out swarm: md_burst failed (%s); rattled instead", exc)
    if counts["normal_modes"]:
        try:
            made["normal_modes"] = core_normal_modes(cut, calculator, counts["normal_modes"],
                                                     cfg.normal_mode_temperature, limits, rng)
        except StructureError as exc:
            log.warning("cut-out swarm: normal_modes failed (%s); rattled instead", exc)
    out = []
    for name in ("md_burst", "normal_modes"):
        for cand in made.get(name, []):
            restored = _restore(cut, cand, held)
            if not close_atoms(restored, limits).size:
                restored.info["generator"] = name
                out.append(restored)
    for cand in rattle_core(cut, cfg.n_candidates - len(out), cfg.rattle_stdev, limits, rng):
        restored = _restore(cut, cand, held)
        restored.info["generator"] = "rattle"
        out.append(restored)
    return out
