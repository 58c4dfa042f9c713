"""SHIP: the final fit ships only once it passes the loop's end criteria itself.

Three jobs after a final fit (trainer.ladder.final_rungs), each with its own files:
  final_check_frames  fresh spot-check frames (`final_check/selected.xyz`) sampled from the last
                      iteration's explorations — never labelled, so both candidates are scored on
                      frames neither was trained on; labelled by the usual label/gather rules
  gamma_scale         the final fit's gamma on the loop potential's scale (`final_fit/gamma_scale.json`,
                      shipping/gamma_scale.py); the final fit's MD stability run is bounded by it
  ship (checkpoint)   `final_check/ship.json` (shipping/verdict.py): which potential final/ ships
Everything after it (properties of the shipped potential, final/, the report) reads ship.json.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..components.base import PotentialFiles
from ..components.registry import make_trainer
from ..loop.decision import spot_check_result
from ..core.io import read_json, read_structures, write_json, write_structures
from ..core.seeds import rng_for
from ..domain_models.property_files import read_md_stability
from ..domain_models.records import TrainRecord, read_record
from ..domain_models.ship import GammaScale, ShipDecision
from ..shipping.gamma_scale import gamma_scale, max_gammas
from ..shipping.verdict import check_potential, decide_ship
from .prior_errors import prior_errors
from .refine import _strip, pick_spot_checks

log = logging.getLogger(__name__)


def run_final_check_frames(rcfg, sample_files: list[str], out_selected: str) -> int:
    """`convergence.spot_checks` frames spread over the last iteration's explorations."""
    samples = [read_structures(f) for f in sample_files]
    picks = pick_spot_checks(samples, rcfg.cfg.convergence.spot_checks, rng_for(rcfg.cfg.seed, "final_check"))
    for atoms in picks:
        atoms.info["generator"] = "final_check"
    write_structures(out_selected, [_strip(a) for a in picks])
    log.info("FINAL CHECK: %d fresh spot-check frame(s) from %d exploration(s)", len(picks), len(samples))
    return len(picks)


def _accepted_frames(frame_files: list[str]) -> list:
    frames = []
    for f in frame_files:
        frames += read_structures(f)
    return frames


def run_gamma_scale(rcfg, stage: str, reference_dir: str, frame_files: list[str], out_json: str) -> GammaScale:
    """gamma of `stage` and of the loop's potential on the last exploration's frames (samples and
    extrapolative frames)."""
    cfg = rcfg.cfg
    trainer = make_trainer(cfg.trainer)
    frames = _accepted_frames(frame_files)
    ref = max_gammas(trainer.calculator(PotentialFiles.in_dir(reference_dir), with_gamma=True), frames)
    this = max_gammas(trainer.calculator(PotentialFiles.in_dir(stage), with_gamma=True), frames)
    scale = gamma_scale(list(zip(ref, this)), cfg.exploration.gamma_halt, cfg.properties.tolerances.md_max_gamma,
                        stage, Path(reference_dir).name)
    write_json(out_json, scale.model_dump(mode="json"))
    log.info("GAMMA SCALE %s: %s", stage, scale.reason)
    return scale


def _n_functions(record_file: str | None) -> int | None:
    if not record_file or not Path(record_file).is_file():
        return None
    fit = read_record(TrainRecord, record_file).fit
    return fit.n_functions if fit else None


def _spot(rcfg, stage_dir: str, frames: list) -> tuple:
    """(SpotCheckResult | None, per-frame rows) of the potential in `stage_dir` on the fresh frames."""
    if not frames:
        return None, []
    conv = rcfg.cfg.convergence
    trainer = make_trainer(rcfg.cfg.trainer)
    files = PotentialFiles.in_dir(stage_dir)
    try:
        prior = prior_errors(trainer.calculator(files, with_gamma=True), frames, group_of=rcfg.cfg.kind_of_frame)
    except (ValueError, FileNotFoundError):  # no extrapolation grade (e.g. the mock trainer)
        prior = prior_errors(trainer.calculator(files), frames, with_gamma=False, group_of=rcfg.cfg.kind_of_frame)
    rows = [{"max_gamma": p.max_gamma, "force_rmse": p.force_rmse, "energy_error_per_atom": p.energy_error_per_atom}
            for p in prior.per_structure]
    # iteration -1: frames of no iteration of the loop (final_check/)
    return spot_check_result(-1, prior, conv.force_rmse, conv.energy_rmse, conv.kind_force_rmse), rows


def run_ship(rcfg, loop_dir: str, final_dir: str, final_record: str, check_labels: str, md_file: str | None,
             scale_file: str | None, out_json: str, loop_record: str | None = None) -> ShipDecision:
    """Score both candidates on the fresh spot checks, judge the final fit, write the decision."""
    frames = read_structures(check_labels) if check_labels and Path(check_labels).is_file() else []
    loop_stage, final_stage = Path(loop_dir).name, Path(final_dir).name
    record = read_record(TrainRecord, final_record)
    scale = GammaScale.model_validate(read_json(scale_file)) if scale_file else None
    tol = rcfg.cfg.properties.tolerances.md_max_gamma
    spot, rows = _spot(rcfg, loop_dir, frames)
    loop_check = check_potential(loop_stage, _n_functions(loop_record), spot, rows, None, tol)
    final_check = None
    if not record.kept_previous:
        spot, rows = _spot(rcfg, final_dir, frames)
        md = read_md_stability(md_file).summary() if md_file else None
        bound = scale.md_max_gamma if scale is not None else tol
        final_check = check_potential(final_stage, _n_functions(final_record), spot, rows, md, bound)
    decision = decide_ship(loop_stage, final_stage, record, final_check, loop_check, scale)
    write_json(out_json, decision.model_dump(mode="json"))
    log.info("SHIP: %s", decision.reason)
    return decision


