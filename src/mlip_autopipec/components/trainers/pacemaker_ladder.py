"""Capacity that grows with the data, for pacemaker: its own ladder fitting, sized by a held-out share.

A fixed basis is too large for the first few dozen labels and too small later (basis_ladder.py
says why for linear ACE). pacemaker already grows a basis: with `fit: ladder_step / ladder_type`
it starts from an empty basis, adds functions step by step towards the target `basis`, runs the
full BFGS fit after each step (continuing from the previous step's coefficients) and saves every
step's potential as `interim_potential_ladder_step_<k>.yaml`. What it lacks is the choice, so here:

* the labels are split by holdout.split_holdout (a fixed share by structure hash, the same rule as
  linear ACE's ladder; never the validation set); pacemaker's ladder runs on the training share;
* every step's potential is scored on the held-out share in this environment (pyace, the same
  score as linear ACE: the fit's row weights on the trusted rows, scoring/fit_weights.py); steps with too few atomic
  environments per function are not eligible; the lowest score wins, ties go to the smaller basis;
* keep the best: the chosen step's potential (it never saw the held-out share) is stored in the
  train record as the held-out-share stand-in; the next fit scores it on its own, larger held-out
  share and keeps the earlier potential if that one is better;
* refit (default): the chosen size is refitted on all labels. Why: the held-out share is 20 % of
  the labels, which the shipped potential should not give up once the size is chosen. With
  `start: linear` the refit starts exactly like a fixed fit of the chosen step's functions: fresh
  radial functions and the linear ACE solution on all labels. Continuing from the chosen step, or
  keeping its radial functions, was worse (benchmarks/RESULTS.md, "pacemaker ladder"): a ladder
  step starts from coefficients fitted for another basis and is far from converged after
  max_iterations. With `start: scratch` the refit continues from the chosen step. `refit: false`
  ships the chosen step as fitted on the training share. With nothing held out (too few labels)
  the ladder already saw every label and is not refitted.

Splitting, picking, falling back, keep-the-best and the record are the shared ladder's (ladder.py);
`PacemakerStepLadder` supplies the hooks: a step's potential scored on the held-out share.

With `start: linear` the ladder's target is the linear ACE solution of `basis` on the training
share (pacemaker copies a function's coefficient from the target when the ladder adds it); with
`start: scratch` it is the fresh two-density basis. `upfit` does not apply to ladder fits (each
ladder starts from an empty basis).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ase import Atoms

from ...core.errors import TrainingError
from ...core.metrics import rmse_metrics
from ...scoring.fit_weights import fit_energy_weight, of_calculator
from ..base import PotentialFiles
from ..ace.common import AceCalculator, ace_potential_config, frames_to_dataframe, preserve_root_logging
from .core_repulsion import min_distance_per_bond
from .holdout import previous_holdout_fit
from .ladder import Ladder, PreviousScore
from ...domain_models.records import HoldoutStandIn, LadderRecord

with preserve_root_logging():
    from pyace import ACEBBasisSet, BBasisConfiguration
    from pyace.multispecies_basisextension import reset_bbasisconfig

log = logging.getLogger(__name__)

INTERIM = re.compile(r"interim_potential_ladder_step_(\d+)\.yaml$")
# pacemaker_ladder.log / _input.yaml / _metrics.txt: the ladder run's log, input and per-iteration loss
# over all steps (the refit's are pacemaker.log etc.)
LADDER_PREFIX = "pacemaker_ladder"
LADDER_LOG = LADDER_PREFIX + ".log"


@dataclass
class PacemakerLadderFit:
    """What the trainer ships and records."""

    fitted: BBasisConfiguration  # the potential to ship (reference energies and ZBL in place)
    losses: dict  # loss summary of the last pacemaker run (the refit, else the ladder)
    seconds: float  # pacemaker wall time, ladder + refit
    mode: str  # how the shipped fit started: "ladder", "ladder+refit" or "kept_previous"
    record: LadderRecord  # train.json `fit.ladder`


def functions_per_element(bconf: BBasisConfiguration) -> dict[str, int]:
    basis = ACEBBasisSet(bconf)
    return {el: len(basis.basis_rank1[st]) + len(basis.basis[st]) for el, st in basis.elements_to_index_map.items()}


def holdout_errors(bconf: BBasisConfiguration, frames: Sequence[Atoms], scratch: Path, energy_weight: float) -> dict:
    """Score and errors of a potential on `frames` over the rows the fit trusts, with the fit's
    energy weight (scoring/fit_weights; (1 - kappa) / kappa), plus the pressure RMSE where labelled
    (core.metrics.rmse_metrics, as the validation step computes it)."""
    bconf.save(str(scratch))
    try:
        calc = AceCalculator(scratch)
        out = of_calculator(calc, frames, energy_weight).errors()
        out["pressure_rmse_gpa"] = rmse_metrics(calc, frames)["pressure_rmse_gpa"]
        return out
    finally:
        scratch.unlink(missing_ok=True)


def previous_pacemaker_holdout_fit(previous: PotentialFiles | None) -> HoldoutStandIn | None:
    """The previous fit's held-out stand-in if a pacemaker ladder wrote it (it carries the potential
    as yaml text); a linear fit's record or none: None."""
    holdout_fit = previous_holdout_fit(previous)
    return holdout_fit if holdout_fit is not None and holdout_fit.potential_yaml is not None else None


class PacemakerStepLadder(Ladder):
    """The hooks of the shared ladder (ladder.py) for pacemaker: the candidates are the steps of one
    pacemaker ladder run on the training share; "fitting" a step is scoring its saved potential."""

    what = "step"
    name = "pacemaker ladder"

    def __init__(self, frames, lad, energy_weight: float, work: Path, stage: str):
        super().__init__(frames, lad.holdout_share, lad.envs_per_function)
        self.energy_weight, self.work, self.stage = energy_weight, work, stage
        self.held_frames = [a for a, h in zip(self.frames, self.held) if h]
        self.score_frames = [a for a, s in zip(self.frames, self.score_on) if s]
        self.steps: list[tuple[int, BBasisConfiguration]] = []  # (ladder step, potential as it would be shipped)

    def fit_rung(self, pos: int) -> dict:
        return holdout_errors(self.steps[pos][1], self.score_frames, self.work / "scored.yaml", self.energy_weight)

    def rung_description(self, pos: int) -> dict:
        return {"ladder_step": self.steps[pos][0], "n_functions": sum(functions_per_element(self.steps[pos][1]).values())}

    def stand_in(self, pos: int, entry) -> HoldoutStandIn | None:
        if entry.score is None:
            return None
        return HoldoutStandIn(rung=self.rung_description(pos), functions_per_element=entry.functions_per_element,
                              score=entry.score, stage=self.stage,
                              potential_yaml=_yaml_text(self.steps[pos][1], self.work))

    def score_previous(self, previous: HoldoutStandIn) -> PreviousScore:
        path = self.work / "previous_holdout.yaml"
        path.write_text(previous.potential_yaml)
        return PreviousScore(errors=holdout_errors(BBasisConfiguration(str(path)), self.held_frames,
                                                   self.work / "scored.yaml", self.energy_weight))


def fit_with_ladder(trainer, dataset: Sequence[Atoms], out_dir: Path, refs: dict[str, float],
                    previous: PotentialFiles | None, seed: int, python: Path) -> PacemakerLadderFit:
    """Run pacemaker's ladder on the training share, choose a step on the held-out share, compare
    with the earlier best, and refit (see module docstring). `trainer` is the PacemakerTrainer."""
    cfg = trainer.cfg
    lad = cfg.ladder
    frames = list(dataset)
    elements = sorted(refs)
    work = trainer.fresh_work_dir(out_dir)
    ladder = PacemakerStepLadder(frames, lad, fit_energy_weight(cfg), work, Path(out_dir).name)
    held = ladder.held
    fit_frames = [a for a, h in zip(frames, held) if not h]

    # 1. pacemaker's ladder on the training share
    if cfg.start == "linear":
        target = trainer.linear_start(elements, frames_to_dataframe(fit_frames, refs), work)
    else:
        target = ace_potential_config(elements, cfg.basis.cutoff, cfg.basis.number_of_functions_per_element,
                                      cfg.basis.max_order, linear=False)
    step = list(lad.step) if isinstance(lad.step, tuple) else lad.step
    _, ladder_losses, seconds = trainer.run_fit(fit_frames, work, target, refs, seed, python,
                                                 extra_fit={"ladder_step": step, "ladder_type": lad.type})
    trainer.keep_run_files(out_dir, LADDER_PREFIX)  # the refit's run writes the plain names
    interim = sorted(((int(m.group(1)), p) for p in work.iterdir() if (m := INTERIM.search(p.name))))
    if not interim:
        raise TrainingError(f"pacemaker's ladder wrote no interim_potential_ladder_step_*.yaml (log: "
                            f"{Path(out_dir) / LADDER_LOG})")

    # 2. score every step on the held-out share, pick one, compare with the earlier best (ladder.py)
    shortest = min_distance_per_bond(frames, elements)
    for k, path in interim:
        bconf = trainer.finish_potential(path, refs)
        trainer.add_core_repulsion(bconf, shortest)  # scored as it would be shipped
        ladder.steps.append((k, bconf))
    candidates = [(k, functions_per_element(bconf)) for k, bconf in ladder.steps]
    prev = previous_pacemaker_holdout_fit(previous) if lad.keep_best else None
    choice = ladder.choose(candidates, prev, lad.keep_best)
    chosen_step, chosen_conf = ladder.steps[choice.chosen]
    keep_previous = choice.keep_previous

    # 3. what to ship
    losses = ladder_losses
    if keep_previous:
        fitted, mode = BBasisConfiguration(str(previous.yaml)), "kept_previous"
    elif lad.refit and held.any():  # (with nothing held out the ladder already saw every label)
        conf = BBasisConfiguration(str(dict(interim)[chosen_step]))  # as pacemaker saved it
        refit_work = trainer.fresh_work_dir(out_dir)  # the ladder's scratch is no longer needed
        if cfg.start == "linear":  # the chosen step's functions, fresh radials, linear solution on all labels
            reset_bbasisconfig(conf)  # the ladder's radials start a refit worse (benchmarks/RESULTS.md)
            start = trainer.linear_start(elements, frames_to_dataframe(frames, refs), refit_work, bconf=conf)
        else:  # from the chosen step's coefficients
            start = "chosen_step.yaml"
            meta = conf.metadata
            for key in ("_fit_cycles", "_loss"):  # pacemaker skips the fit if these record a finished cycle
                if key in meta:
                    del meta[key]
            conf.metadata = meta
            conf.save(str(refit_work / start))
        fitted, losses, refit_seconds = trainer.run_fit(frames, refit_work, start, refs, seed, python)
        seconds += refit_seconds
        mode = "ladder+refit"
    else:
        fitted, mode = chosen_conf, "ladder"

    record = choice.record.model_copy(update={"ladder_step": step, "ladder_type": lad.type,
                                              "refit": mode == "ladder+refit", "ladder_time_s": round(seconds, 3)})
    log.info("pacemaker ladder: %s", {"kept_previous": "an earlier fit scored better: keeping it",
                                      "ladder+refit": "refitted on all labels",
                                      "ladder": "shipped as fitted on the training share"}[mode])
    return PacemakerLadderFit(fitted=fitted, losses=losses, seconds=seconds, mode=mode, record=record)


def _yaml_text(bconf: BBasisConfiguration, work: Path) -> str:
    path = work / "standin.yaml"
    bconf.save(str(path))
    text = path.read_text()
    path.unlink()
    return text
