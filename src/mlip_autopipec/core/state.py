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

from ..domain_models.records import ExplorationRecord, TrainRecord, read_record
from ..domain_models.state import Action, Decision, IterationRecord, Status, WorkflowState
from . import layout as L
from .io import count_frames, read_json, write_json
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


def _validation_dict(train: TrainRecord) -> dict | None:
    return None if train.validation is None else train.validation.model_dump()


def benchmark_seconds(workdir: Path, rule: str, pattern: str) -> float | None:
    """Wall seconds of a rule's jobs (summed over the files matching `pattern`, e.g. all label
    chunks of a stage) from Snakemake's benchmark files."""
    total, found = 0.0, False
    for path in (workdir / "logs" / "benchmark" / rule).glob(f"{pattern}.tsv"):
        try:
            with open(path) as fh:
                rows = list(csv.DictReader(fh, delimiter="\t"))
            total += float(rows[-1]["s"])
            found = True
        except (KeyError, ValueError, IndexError, OSError):
            continue
    return round(total, 3) if found else None


def _stage_counts(workdir: Path, stage: str) -> dict:
    d = workdir / stage
    failed = _json_or_none(workdir / L.labels_failed(stage))
    return {
        "n_selected": count_frames(d / "selected.xyz") if (d / "selected.xyz").exists() else None,
        "n_labelled": count_frames(d / "labels.extxyz") if (d / "labels.extxyz").exists() else None,
        "n_failed": len(failed) if isinstance(failed, list) else None,
    }


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


def derive_state(workdir: str | Path) -> WorkflowState:
    workdir = Path(workdir)
    initial = {}
    init_train = _train_record_or_none(workdir / L.train_record(L.INITIAL))
    initial.update(_stage_counts(workdir, L.INITIAL))
    if init_train:
        initial["validation"] = _validation_dict(init_train)
        initial["dataset_size"] = init_train.n_structures
        initial["n_functions"] = (init_train.fit or {}).get("n_functions")
    if not (workdir / L.INITIAL / "potential.yace").exists() or init_train is None:
        return _stamp(WorkflowState(status=Status.INITIALIZING, iteration=0, initial=initial,
                                    message="building, labelling and fitting the initial data"))

    history: list[IterationRecord] = []
    status, iteration, potential = Status.EXPLORING, 0, f"{L.INITIAL}/potential.yace"
    message = ""
    last_train = init_train  # the newest fit's record: its composition check is the state's warning
    n = 0
    while True:
        stage = L.iter_dir(n)
        rec = IterationRecord(iteration=n, potential_in=f"{L.potential_stage_for(n)}/potential.yace")
        cond_records = sorted((workdir / stage / "explore").glob("*.json"))
        rec.conditions = [read_record(ExplorationRecord, p).condition_result() for p in cond_records]
        rec.halted_conditions = [c.condition for c in rec.conditions if c.halted]
        halt_steps = [c.steps_run for c in rec.conditions if c.halted]
        rec.halt_step = min(halt_steps) if halt_steps else None
        rec.max_gamma = max((c.max_gamma for c in rec.conditions), default=None)
        rec.timings_s = _timings(workdir, stage, [c.condition for c in rec.conditions])
        raw_decision = _json_or_none(workdir / L.decision(n))
        if raw_decision is None:
            if rec.conditions:  # some conditions finished, the checkpoint has not run yet
                history.append(rec)
            status, iteration = Status.EXPLORING, n
            break
        decision = Decision.model_validate(raw_decision)
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
        counts = _stage_counts(workdir, stage)
        rec.n_selected, rec.n_labelled, rec.n_failed = counts["n_selected"], counts["n_labelled"], counts["n_failed"]
        train = _train_record_or_none(workdir / L.train_record(stage))
        if train is not None:
            last_train = train
            rec.dataset_size = train.n_structures
            rec.validation = _validation_dict(train)
            rec.n_functions = (train.fit or {}).get("n_functions")
            rec.spearman = (train.prior or {}).get("spearman_atoms")
            rec.potential_out = f"{stage}/potential.yace"
        iteration = n
        if rec.n_candidates is None:
            status = Status.REFINING
        elif rec.n_selected is None:
            status = Status.REFINING
        elif rec.n_labelled is None:
            status = Status.LABELING
        elif train is None or not (workdir / stage / "potential.yace").exists():
            status = Status.TRAINING
        else:
            potential = rec.potential_out
            n += 1
            continue
        break
    final_fit = {}
    if status in (Status.CONVERGED, Status.STOPPED_MAX_CYCLES, Status.STOPPED_PATIENCE):
        flag = "converged.flag" if status is Status.CONVERGED else "stopped.flag"
        if not (workdir / flag).exists():
            message = f"finishing: {message}"
        final_fit = _final_fit(workdir)
        last_train = _train_record_or_none(workdir / L.train_record(L.FINAL_FIT)) or last_train
        if final_fit:
            potential = f"{L.FINAL_FIT}/potential.yace"
    return _stamp(WorkflowState(status=status, iteration=iteration, current_potential=potential,
                                message=message, initial=initial, history=history, final_fit=final_fit,
                                properties=property_counts(workdir), warnings=_warnings(last_train)))


def _warnings(train: TrainRecord | None) -> list[str]:
    """What the newest fit says is wrong with its training set (the composition rank check)."""
    check = None if train is None else train.composition
    return [check.advice] if check is not None and not check.determined and check.advice else []


def _final_fit(workdir: Path) -> dict:
    """The fit after the loop, once its potential and record exist (else {})."""
    rec = _train_record_or_none(workdir / L.train_record(L.FINAL_FIT))
    if rec is None or not (workdir / L.FINAL_FIT / "potential.yace").exists():
        return {}
    fit = rec.fit or {}
    keep_best = (fit.get("ladder") or {}).get("keep_best") or {}
    return {"dataset_size": rec.n_structures, "validation": _validation_dict(rec),
            "n_functions": fit.get("n_functions"), "kept_previous": bool(keep_best.get("kept_previous")),
            "train_s": rec.wall_time_s}


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
