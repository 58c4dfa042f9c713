"""Derive `workflow_state.json` from the files on disk and write it atomically.

Every step calls `refresh_state` after its outputs are in place. Because the state is recomputed
from files (never patched incrementally), a crash between an output and the state write, or two
jobs refreshing at once, cannot leave the two disagreeing past the next refresh.
"""

from __future__ import annotations

import csv
import json
import fcntl
import logging
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ..domain_models._strict import read_or_none
from ..domain_models.property_files import read_md_stability_or_none
from ..domain_models.records import (ExplorationRecord, LabelChunkRecord, LabelNoiseRecord, TrainRecord,
                                     read_label_failures, read_record)
from ..domain_models.state import (Action, FinalFitSummary, InitialSummary, IterationRecord, LabelNoiseSummary,
                                   LevelSummary, MdStabilitySummary, ShippedSummary, Status, WorkflowState,
                                   read_decision_or_none)
from ..core import layout as L
from ..core.io import count_frames, read_json, write_json
from .property_state import property_counts

log = logging.getLogger(__name__)


def _json_or_none(path: Path):
    try:
        return read_json(path) if path.is_file() else None
    except ValueError:  # a foreign partial file; our own writes are atomic
        return None


def _train_record_or_none(path: Path) -> TrainRecord | None:
    raw = _json_or_none(path)
    return None if raw is None else TrainRecord.model_validate(raw)


def benchmark_seconds(workdir: Path, rule: str, pattern: str) -> float | None:
    """Wall seconds of a rule's jobs (summed over the files matching `pattern`, e.g. all label
    chunks of a stage) from Snakemake's benchmark files."""
    total, found = 0.0, False
    for path in workdir.glob(L.benchmark_file(rule, pattern)):
        try:
            with open(path) as fh:
                rows = list(csv.DictReader(fh, delimiter="\t"))
            total += float(rows[-1]["s"])
            found = True
        except (KeyError, ValueError, IndexError, OSError):
            continue
    return round(total, 3) if found else None


def _stage_counts(workdir: Path, stage: str) -> tuple[int | None, int | None, int | None]:
    """(selected, labelled, failed) structures of a stage; None for a file not there yet."""
    failed = read_or_none(read_label_failures, workdir / L.labels_failed(stage))
    return (count_frames(workdir / L.selected(stage)) if (workdir / L.selected(stage)).exists() else None,
            count_frames(workdir / L.labels(stage)) if (workdir / L.labels(stage)).exists() else None,
            len(failed) if failed is not None else None)


def _timings(workdir: Path, stage: str, conditions: list[str]) -> dict[str, float]:
    out = {}
    for cond in conditions:
        s = benchmark_seconds(workdir, "explore", f"{stage}_{cond}")
        if s is not None:
            out[f"explore:{cond}"] = s
    for rule, pattern in (("collect_halts", stage), ("candidates", stage), ("select", stage),
                          ("label", f"{stage}_*"), ("gather_labels", stage), ("train", stage)):
        s = benchmark_seconds(workdir, rule, pattern)
        if s is not None:
            out[rule] = s
    return out


def label_noise_summary(workdir: Path) -> LabelNoiseSummary | None:
    """The label-noise record (the check's output, else its last attempt's, which a run stopped
    for noisy labels keeps) as the state shows it; None before the check."""
    for path, final in ((workdir / L.LABEL_NOISE, True), (workdir / L.LABEL_NOISE_ATTEMPT, False)):
        raw = _json_or_none(path)
        if raw is not None:
            rec = LabelNoiseRecord.model_validate(raw)
            return LabelNoiseSummary(applicable=rec.applicable, passed=rec.passed,
                                     stopped=not final and not rec.passed, force_rms=rec.force_rms,
                                     energy_per_atom=rec.energy_per_atom, worst_setting=rec.worst_setting,
                                     message=rec.message, base_wall_time_s=rec.base_wall_time_s,
                                     oracle_wall_time_s=rec.oracle_wall_time_s)
    return None


def label_levels(workdir: Path) -> list[LevelSummary] | None:
    """Two-level labelling: labels, failures and labelling wall time of each level, summed over the label
    jobs' records (the expensive level's `<stage>/label_jobs/*.json`, the cheap level's
    `<stage>/cheap/label_job.json`); None in a one-level run (no cheap record)."""
    cheap = sorted(workdir.glob(L.cheap_label_record("*")))
    if not cheap:
        return None
    out = []
    for level, paths in (("expensive", sorted(workdir.glob(L.label_job("*", "*", "json")))), ("cheap", cheap)):
        records = [r for r in (read_or_none(lambda p: read_record(LabelChunkRecord, p), p) for p in paths) if r]
        out.append(LevelSummary(level=level, n_labelled=sum(r.n_labelled for r in records),
                                n_failed=sum(len(r.failures) for r in records),
                                wall_time_s=round(sum(r.wall_time_s for r in records), 3), n_jobs=len(records)))
    return out


def derive_state(workdir: str | Path) -> WorkflowState:
    workdir = Path(workdir)
    noise = label_noise_summary(workdir)
    init_train = _train_record_or_none(workdir / L.train_record(L.INITIAL))
    n_selected, n_labelled, n_failed = _stage_counts(workdir, L.INITIAL)
    fitted = {} if not init_train else {  # the fit's keys only once it exists (the file leaves them out before)
        "validation": init_train.validation, "dataset_size": init_train.n_structures,
        "n_functions": init_train.fit.n_functions if init_train.fit else None}
    initial = InitialSummary(n_selected=n_selected, n_labelled=n_labelled, n_failed=n_failed, **fitted)
    if noise is not None and noise.stopped:
        return _stamp(WorkflowState(status=Status.FAILED, iteration=0, initial=initial, label_noise=noise,
                                    levels=label_levels(workdir),
                                    message=f"stopped before the initial labels: {noise.message}"))
    if not (workdir / L.potential(L.INITIAL)).exists() or init_train is None:
        return _stamp(WorkflowState(status=Status.INITIALIZING, iteration=0, initial=initial, label_noise=noise,
                                    levels=label_levels(workdir),
                                    message="building, labelling and fitting the initial data"))

    history: list[IterationRecord] = []
    status, iteration, potential = Status.EXPLORING, 0, L.potential(L.INITIAL)
    message = ""
    last_train = init_train  # the newest fit's record: its composition check is the state's warning
    n = 0
    while True:
        stage = L.iter_dir(n)
        rec = IterationRecord(iteration=n, potential_in=L.potential(L.potential_stage_for(n)))
        cond_records = sorted(workdir.glob(L.explore_record(n, "*")))
        rec.conditions = [read_record(ExplorationRecord, p).condition_result() for p in cond_records]
        rec.halted_conditions = [c.condition for c in rec.conditions if c.halted]
        halt_steps = [c.steps_run for c in rec.conditions if c.halted]
        rec.halt_step = min(halt_steps) if halt_steps else None
        rec.max_gamma = max((c.max_gamma for c in rec.conditions), default=None)
        rec.timings_s = _timings(workdir, stage, [c.condition for c in rec.conditions])
        decision = read_decision_or_none(workdir / L.decision(n))
        if decision is None:
            if rec.conditions:  # some conditions finished, the checkpoint has not run yet
                history.append(rec)
            status, iteration = Status.EXPLORING, n
            break
        rec.action, rec.reason = decision.action, decision.reason
        if decision.spot_check_result is not None and history:  # spot checks labelled one iteration earlier
            history[-1].spot_check = decision.spot_check_result
        history.append(rec)
        if decision.action is not Action.CONTINUE:
            status, iteration, message = decision.action.terminal_status, n, decision.reason
            if decision.extended:
                message += f" (extended: {decision.extended})"
            break
        if (workdir / L.candidates(n)).exists():
            rec.n_candidates = count_frames(workdir / L.candidates(n))
        rec.n_selected, rec.n_labelled, rec.n_failed = _stage_counts(workdir, stage)
        train = _train_record_or_none(workdir / L.train_record(stage))
        if train is not None:
            last_train = train
            rec.dataset_size = train.n_structures
            rec.validation = train.validation
            rec.n_functions = train.fit.n_functions if train.fit else None
            rec.spearman = train.prior.spearman_atoms if train.prior else None
            rec.potential_out = L.potential(stage)
        iteration = n
        if rec.n_candidates is None:
            status = Status.REFINING
        elif rec.n_selected is None:
            status = Status.REFINING
        elif rec.n_labelled is None:
            status = Status.LABELING
        elif train is None or not (workdir / L.potential(stage)).exists():
            status = Status.TRAINING
        else:
            potential = rec.potential_out
            n += 1
            continue
        break
    final_fit, shipped = None, None
    if status in (Status.CONVERGED, Status.STOPPED_MAX_CYCLES, Status.STOPPED_PATIENCE):
        flag = L.flag(status is Status.CONVERGED)
        if not (workdir / flag).exists():
            message = f"finishing: {message}"
        final_fit = _final_fit(workdir)
        shipped = _shipped(workdir, history, potential)
        if shipped is not None:
            potential = shipped.potential
            if final_fit is not None:
                final_fit = final_fit.model_copy(update={"outcome": shipped.final_fit, "reason": shipped.reason,
                                                         "spot_check": shipped.final_fit_spot_check})
        elif final_fit is not None:
            potential = L.potential(L.FINAL_FIT)
        last_train = _train_record_or_none(workdir / L.train_record(L.FINAL_FIT)) or last_train
    return _stamp(WorkflowState(status=status, iteration=iteration, current_potential=potential,
                                message=message, initial=initial, history=history, final_fit=final_fit,
                                shipped=shipped, properties=property_counts(workdir), label_noise=noise,
                                warnings=_warnings(last_train), levels=label_levels(workdir)))


def _md_line(workdir: Path, stage: str) -> MdStabilitySummary | None:
    md = read_md_stability_or_none(workdir / L.md_stability(stage))
    return md.summary() if md is not None else None


def _shipped(workdir: Path, history: list[IterationRecord], loop_potential: str) -> ShippedSummary | None:
    """What final/ ships and the end criteria measured with it: the `ship` checkpoint's decision when
    there is a final fit (final_check/ship.json), else the loop's potential with its last spot check.
    None while a final fit's check has not decided yet."""
    from ..domain_models.ship import read_ship_or_none

    ship = read_ship_or_none(workdir / L.SHIP_DECISION)
    if ship is not None:
        own = ship.check_of(ship.shipped_stage)
        final = ship.check_of(L.FINAL_FIT)
        return ShippedSummary(stage=ship.shipped_stage, potential=L.potential(ship.shipped_stage),
                              final_fit=ship.final_fit, reason=ship.reason,
                              spot_check=None if own is None else own.spot_check,
                              spot_check_frames="fresh frames of the last exploration (final_check/)",
                              final_fit_spot_check=None if final is None else final.spot_check,
                              md_stability=_md_line(workdir, ship.shipped_stage))
    if (workdir / L.train_record(L.FINAL_FIT)).is_file():  # a final fit whose check is still to come
        return None
    stage = Path(loop_potential).parent.as_posix()
    spot = next((r.spot_check for r in reversed(history) if r.spot_check is not None), None)
    return ShippedSummary(stage=stage, potential=loop_potential, final_fit="none",
                          reason=f"the loop's last potential {stage}/ (no final fit configured)",
                          spot_check=spot,
                          spot_check_frames=None if spot is None else f"labelled in iteration {spot.iteration}, "
                          f"scored with {L.potential_stage_for(spot.iteration)}/ before it learnt them",
                          md_stability=_md_line(workdir, stage))


def _warnings(train: TrainRecord | None) -> list[str]:
    """What the newest fit says is wrong with its training set (the composition rank check; a molecule
    at its one composition is a note in final/README.txt, not a warning)."""
    check = None if train is None else train.composition
    return [check.warning] if check is not None and check.warning else []


def _final_fit(workdir: Path) -> FinalFitSummary | None:
    """The fit after the loop, once its potential and record exist (else None)."""
    rec = _train_record_or_none(workdir / L.train_record(L.FINAL_FIT))
    if rec is None or not (workdir / L.potential(L.FINAL_FIT)).exists():
        return None
    fit = rec.fit
    keep_best = fit.ladder.keep_best if fit is not None and fit.ladder is not None else None
    return FinalFitSummary(dataset_size=rec.n_structures, validation=rec.validation,
                           n_functions=fit.n_functions if fit else None,
                           kept_previous=bool(keep_best is not None and keep_best.kept_previous),
                           train_s=rec.wall_time_s)


def _stamp(state: WorkflowState) -> WorkflowState:
    state.updated_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return state


@contextmanager
def _locked(workdir: Path):
    lock = workdir / L.STATE_LOCK
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def refresh_state(workdir: str | Path = ".", event: str = "") -> WorkflowState:
    """Recompute and atomically rewrite the state file (serialised between concurrent jobs).

    Each write also appends one line to `workflow_state/transitions.jsonl` (an audit trail of
    which step moved the run to which status; append-only, never read back by the loop).
    """
    workdir = Path(workdir)
    with _locked(workdir):
        state = derive_state(workdir)
        write_json(workdir / L.STATE_FILE, state.model_dump(mode="json"))
        line = {"time": state.updated_at, "event": event, "status": state.status.value,
                "iteration": state.iteration}
        with open(workdir / L.TRANSITIONS_FILE, "a") as fh:
            fh.write(json.dumps(line) + "\n")
    return state


def read_state(workdir: str | Path = ".") -> WorkflowState | None:
    raw = _json_or_none(Path(workdir) / L.STATE_FILE)
    return WorkflowState.model_validate(raw) if raw else None
