"""EXPLORE: one exploration condition of one iteration with the current potential."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

from ..components.base import PotentialFiles
from ..components.registry import make_dynamics, make_trainer
from ..loop.adaptive_gamma import adaptive_thresholds, calibration_points
from ..core.io import write_json, write_structures
from ..core.seeds import derive_seed
from ..domain_models.adaptive_gamma_config import GammaThresholds
from ..domain_models.records import ExplorationRecord, TrainRecord, read_record, record_json
from .initial import starting_structures, wide_cell_structure

log = logging.getLogger(__name__)


def condition_by_name(rcfg, name: str):
    for cond in rcfg.cfg.exploration.conditions:
        if cond.name == name:
            return cond
    raise KeyError(f"no exploration condition named {name!r}")


def exploration_start(rcfg, cond):
    """The condition's starting cell: its structure, or the wide cell for the condition
    `exploration.wide_cell` picks (OTFConfig.wide_exploration_condition)."""
    if cond.name == rcfg.cfg.wide_exploration_condition():
        return wide_cell_structure(rcfg)
    return starting_structures(rcfg)[cond.structure]


def trainer_calculator(cfg, potential: PotentialFiles):
    return make_trainer(cfg.trainer).calculator(potential, with_gamma=True)


def gamma_thresholds(cfg, calibration_files: Sequence[str]) -> GammaThresholds | None:
    """With `exploration.adaptive_gamma` on, this iteration's thresholds from the prior errors in
    the fits' records `calibration_files` (the rule's declared input); None when it is off."""
    adaptive = cfg.exploration.adaptive_gamma
    if not adaptive.enabled:
        return None
    priors = [(Path(f).parent.name, read_record(TrainRecord, f).prior) for f in calibration_files]
    tolerance = adaptive.force_tolerance or cfg.convergence.force_rmse
    return adaptive_thresholds(calibration_points(priors), adaptive, tolerance, cfg.exploration.gamma_select,
                               cfg.exploration.gamma_halt)


def run_explore(rcfg, iteration: int, condition_name: str, potential_dir: str, out_record: str,
                out_frames: str, out_samples: str | None = None,
                calibration_files: Sequence[str] = ()) -> ExplorationRecord:
    cfg = rcfg.cfg
    cond = condition_by_name(rcfg, condition_name)
    atoms = exploration_start(rcfg, cond)
    potential = PotentialFiles.in_dir(potential_dir)
    thresholds = gamma_thresholds(cfg, calibration_files)
    exploration = cfg.exploration
    if thresholds is not None:
        log.info("EXPLORE iter %d %s: gamma_select %.3g, gamma_halt %.3g: %s", iteration, cond.name,
                 thresholds.gamma_select, thresholds.gamma_halt, thresholds.reason)
        exploration = exploration.model_copy(update={"gamma_select": thresholds.gamma_select,
                                                     "gamma_halt": thresholds.gamma_halt})
    dynamics = make_dynamics(cfg.dynamics, exploration, cores=cfg.resources.explore.cores,
                             work_dir=Path(out_record).with_suffix(".lammps"))
    # a backend that evaluates the potential itself (in LAMMPS, or not at all) gets no calculator
    calc = trainer_calculator(cfg, potential) if dynamics.needs_calculator else None
    budget = cfg.exploration_steps(iteration)
    t0 = time.perf_counter()
    outcome = dynamics.run(atoms, calc, potential, cond, budget, derive_seed(cfg.seed, "explore", iteration, cond.name))
    wall = time.perf_counter() - t0
    for frame in [*outcome.frames, *outcome.samples]:
        frame.info["condition"] = cond.name
        frame.info["iteration"] = iteration
    record = ExplorationRecord(
        condition=cond.name,
        halted=outcome.halted,
        steps_run=outcome.steps_run,
        budget=outcome.budget,
        max_gamma=outcome.max_gamma,
        n_extrapolative=len(outcome.frames),
        wall_time_s=round(wall, 3),
        temperature=cond.temperature,
        pressure=cond.pressure,
        gamma_trace=outcome.gamma_trace,
        gamma_thresholds=thresholds,
    )
    write_structures(out_frames, outcome.frames)
    if out_samples is not None:
        write_structures(out_samples, outcome.samples)
    write_json(out_record, record_json(record))  # last: the record's presence means the frames are complete
    log.info("EXPLORE iter %d %s (%d atoms%s): %s at step %d/%d, max gamma %.2f, %d extrapolative frame(s), %.1f s",
             iteration, cond.name, len(atoms), ", the wide cell" if atoms.info.get("source") == "initial:wide_cell"
             else "", "HALTED" if outcome.halted else "ran through", outcome.steps_run,
             budget, outcome.max_gamma, len(outcome.frames), wall)
    return record
