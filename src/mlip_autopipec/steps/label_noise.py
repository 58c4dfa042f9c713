"""LABEL NOISE: the noise floor of the labels, measured before any label is spent.

A potential cannot be more accurate than the labels it learns from, and DFT labels carry the
errors of their settings: a 2x2x2 k-point grid on a 32-atom Al cell moves the forces by 128 meV/Å
RMS against a 4x4x4 one (docs: /work/shared/notes/stack.md), four times the spot-check tolerance, so
no loop setting could ever pass the spot checks. This step labels one representative structure of
the initial set (a rattled copy) and its pristine parent at the configured settings and once more
per tightened setting (`label_noise.settings`; the oracle's `tighter` hook says what tighter means:
DFTOracle.tighter_config), and records how much the labels move: forces of the representative,
and its energy relative to the parent (a constant shift of every energy is absorbed by the fit's
reference energies; a change of the energy *differences* is not).

The floor is the root-sum-square of the settings' changes (independent errors add in quadrature).
Above `label_noise.max_fraction` × the spot-check tolerance the run stops with one line naming the
setting to tighten (`label_noise.on_excess: warn` goes on). The calculations at the configured
settings go through the initial stage's label cache, so the initial label jobs reuse them; the
tighter ones are cached in `initial/label_noise_cache/`, so a killed or stopped check recomputes nothing.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np

from ..components.registry import make_oracle, measures_label_noise
from ..core import layout as L
from ..core.errors import UserError
from ..core.io import read_structures, write_json
from ..domain_models.records import LabelNoiseRecord, SettingNoise, record_json
from .label import label_one
from .label_cache import LabelCache, attempt_settings, physics_settings, retry_failed_requested

log = logging.getLogger(__name__)

SETTING_FIELDS = {"kpoints": "oracle.kpoints", "cutoff": "oracle.cutoff_ev", "smearing": "oracle.smearing.width_ev"}


def candidates(frames: list) -> list[tuple[object, object | None]]:
    """(structure to label, its pristine parent or None), in the order the check tries them: rattled
    copies of the initial set (typical labels: displaced atoms, non-zero forces) before the rest,
    smallest first, each with the unrattled structure it was made from when there is one of the same
    size. The smallest, because the check at a twice as dense k-point grid costs 8 labels, and
    k-point sampling errors depend on the grid's density, which the oracle keeps the same for every
    cell: a small cell measures them as well as a large one, for less. The next one is tried only
    when the oracle fails on one (the failure rule: a failed calculation is recorded and skipped)."""
    if not frames:
        raise UserError("label noise: the initial set (initial/selected.xyz) is empty; check structures:")
    rattled = [a for a in frames if a.info.get("source") == "initial:rattled"]
    ordered = sorted(rattled, key=len) + sorted([a for a in frames if not any(a is r for r in rattled)], key=len)

    def parent_of(rep):
        return next((a for a in frames if a.info.get("source") == "initial:original" and a is not rep
                     and len(a) == len(rep) and a.info.get("structure_index") == rep.info.get("structure_index")),
                    None)
    return [(rep, parent_of(rep)) for rep in ordered]


def representative(frames: list) -> tuple[object, object | None]:
    """The first structure the check tries (see `candidates`)."""
    return candidates(frames)[0]


def relative_energy(label, parent_label) -> float:
    """E/N of the structure, minus the parent's E/N when there is one (eV/atom)."""
    e = label.get_potential_energy() / len(label)
    return e - parent_label.get_potential_energy() / len(parent_label) if parent_label is not None else e


def setting_noise(setting: str, change: str, base, tight, base_parent=None, tight_parent=None,
                  wall_time_s: float = 0.0) -> SettingNoise:
    """How far the tighter labels (`tight`, `tight_parent`) are from the configured ones."""
    df = tight.get_forces() - base.get_forces()
    de_rel = relative_energy(tight, tight_parent) - relative_energy(base, base_parent)
    de_abs = (tight.get_potential_energy() - base.get_potential_energy()) / len(base)
    return SettingNoise(setting=setting, field=SETTING_FIELDS.get(setting, f"oracle.{setting}"), change=change,
                        force_rms=float(np.sqrt(np.mean(df**2))), force_max=float(np.max(np.linalg.norm(df, axis=1))),
                        energy_per_atom=abs(float(de_rel)), energy_shift_per_atom=abs(float(de_abs)),
                        wall_time_s=round(wall_time_s, 3))


def verdict(settings: list[SettingNoise], force_tol: float, energy_tol: float,
            max_fraction: float = 1.0) -> tuple[float, float, bool, str | None, str]:
    """(force floor, energy floor, passed, worst setting, one-line message)."""
    f_floor = math.sqrt(sum(s.force_rms**2 for s in settings))
    e_floor = math.sqrt(sum(s.energy_per_atom**2 for s in settings))
    passed = f_floor <= force_tol and e_floor <= energy_tol
    worst = max(settings, key=lambda s: max(s.force_rms / force_tol, s.energy_per_atom / energy_tol), default=None)
    floor = f"label noise {1000 * f_floor:.0f} meV/Å RMS force, {1000 * e_floor:.1f} meV/atom energy"
    if worst is None:
        return f_floor, e_floor, True, None, f"{floor} (no setting could be tightened)"
    what = (f"{worst.change} changes forces by {1000 * worst.force_rms:.0f} meV/Å RMS "
            f"(max {1000 * worst.force_max:.0f}), energies by {1000 * worst.energy_per_atom:.1f} meV/atom")
    if passed:
        return f_floor, e_floor, True, worst.setting, (
            f"{floor}: within {1000 * force_tol:.0f} meV/Å, {1000 * energy_tol:.1f} meV/atom (largest: {what})")
    scale = "" if max_fraction == 1 else f" x label_noise.max_fraction {max_fraction:g}"
    over = (f"{1000 * f_floor:.0f} meV/Å RMS force > {1000 * force_tol:.0f} meV/Å (convergence.force_rmse{scale})"
            if f_floor > force_tol else
            f"{1000 * e_floor:.1f} meV/atom energy > {1000 * energy_tol:.1f} meV/atom (convergence.energy_rmse{scale})")
    return f_floor, e_floor, False, worst.setting, f"label noise {over}: tighten {worst.field} ({what})"


def _wall(label) -> float:
    return float(label.info.get("oracle_wall_time_s", 0.0)) if label is not None else 0.0


def run_label_noise(rcfg, selected_file: str, out_json: str, stage_cache_dir: str, noise_dir: str,
                    cores: int = 1) -> LabelNoiseRecord:
    """Measure the label noise; write the record (also to `<noise_dir>/attempt.json`, which a
    stopped run keeps) and raise UserError when it is above the tolerance and
    `label_noise.on_excess` is stop. `stage_cache_dir`: the initial stage's label cache."""
    cfg, ocfg = rcfg.cfg, rcfg.cfg.oracle
    noise_cfg = cfg.label_noise
    force_tol = cfg.convergence.force_rmse * noise_cfg.max_fraction
    energy_tol = cfg.convergence.energy_rmse * noise_cfg.max_fraction
    oracle = make_oracle(ocfg, cores=cores)
    if not measures_label_noise(cfg):
        why = "label_noise.enabled is false" if not noise_cfg.enabled else f"{oracle.name} has no tighter settings"
        record = LabelNoiseRecord(applicable=False, oracle=oracle.name, force_tolerance=force_tol,
                                  energy_tolerance=energy_tol, passed=True, message=f"label noise not measured: {why}")
        write_json(out_json, record_json(record))
        log.info("LABEL NOISE: %s", record.message)
        return record

    (Path(noise_dir) / L.ATTEMPT_NAME).unlink(missing_ok=True)  # the state shows the last attempt's verdict
    frames = read_structures(selected_file)
    order = candidates(frames)
    for i, atoms in enumerate(frames):  # as the label jobs see them, so that they reuse these labels
        atoms.info["source_stage"] = L.INITIAL
        atoms.info["selected_index"] = i
    retry = retry_failed_requested()
    stage_cache = LabelCache(stage_cache_dir, retry_failed=retry)
    noise_cache = LabelCache(noise_dir, retry_failed=retry)
    attempt = attempt_settings(ocfg, cores)
    t0 = time.perf_counter()

    def compute(orc, atoms, cache, variant=None):
        physics = physics_settings(orc, orc.cfg, atoms)
        if variant is not None:
            physics = {**physics, "label_noise_variant": variant}
        label, failure, why = label_one(orc, atoms, cache, physics, attempt, ocfg.timeout_s)
        log.info("LABEL NOISE: %s %s: %s", variant or "configured settings", atoms.info.get("source"),
                 "from the cache" if why is None else f"computed in {_wall(label):.1f} s")
        return label, failure

    base = rep = parent = None
    for rep, parent in order:  # the first structure the oracle labels at the configured settings
        base, failure = compute(oracle, rep, stage_cache)
        if base is not None:
            break
        log.warning("LABEL NOISE: the oracle failed on %s: %s; trying the next structure",
                    rep.info.get("source"), failure.reason)
    if base is None:
        # Every initial calculation failed (each recorded in the initial stage's cache): the label
        # jobs reuse those records and the failure rule stops the run with its message.
        record = LabelNoiseRecord(applicable=False, oracle=oracle.name, force_tolerance=force_tol,
                                  energy_tolerance=energy_tol, passed=True,
                                  message=f"label noise not measured: the oracle failed on all {len(order)} "
                                          f"initial structures at the configured settings")
        write_json(out_json, record_json(record))
        log.warning("LABEL NOISE: %s", record.message)
        return record
    base_parent = compute(oracle, parent, stage_cache)[0] if parent is not None else None
    measured: list[SettingNoise] = []
    for setting in noise_cfg.settings:
        found = oracle.tighter(setting, rep)
        if found is None:
            log.info("LABEL NOISE: %s cannot be tightened for %s; not measured", setting, oracle.name)
            continue
        tight_oracle, change = found
        tight, failure = compute(tight_oracle, rep, noise_cache, setting)
        tight_parent = None
        if tight is not None and base_parent is not None:
            tight_parent, failure = compute(tight_oracle, parent, noise_cache, setting)
        if failure is not None:
            log.warning("LABEL NOISE: %s not measured: the tighter calculation failed: %s", setting, failure.reason)
            continue
        measured.append(setting_noise(setting, change, base, tight, base_parent if tight_parent is not None else None,
                                      tight_parent, _wall(tight) + _wall(tight_parent)))
    f_floor, e_floor, passed, worst, message = verdict(measured, force_tol, energy_tol, noise_cfg.max_fraction)
    record = LabelNoiseRecord(
        applicable=True, oracle=oracle.name, structure=f"{rep.info.get('source', 'frame 0')} ({len(rep)} atoms)",
        n_atoms=len(rep), has_parent=base_parent is not None, settings=measured, force_rms=f_floor,
        energy_per_atom=e_floor, force_tolerance=force_tol, energy_tolerance=energy_tol, passed=passed,
        worst_setting=worst, message=message, base_wall_time_s=round(_wall(base), 3),
        oracle_wall_time_s=round(_wall(base) + _wall(base_parent) + sum(s.wall_time_s for s in measured), 3),
    )
    write_json(Path(noise_dir) / L.ATTEMPT_NAME, record_json(record))
    for s in measured:
        log.info("LABEL NOISE: %s: forces %.1f meV/Å RMS (max %.1f), energy %.2f meV/atom (shift %.2f), %.1f s",
                 s.change, 1000 * s.force_rms, 1000 * s.force_max, 1000 * s.energy_per_atom,
                 1000 * s.energy_shift_per_atom, s.wall_time_s)
    log.info("LABEL NOISE: %s (measured in %.1f s)", message, time.perf_counter() - t0)
    if not passed and noise_cfg.on_excess == "stop":
        raise UserError(f"{message}; or label_noise.on_excess: warn to go on")
    if not passed:
        log.warning("LABEL NOISE: %s", message)
    write_json(out_json, record_json(record))
    return record
