"""LABEL: run the oracle on each selected structure, one Snakemake job per chunk of structures.

Each finished calculation (success or failure) is also written to `<stage>/label_cache/<hash>.*`
the moment it ends, so a job killed halfway through a chunk recomputes nothing that had finished.
Failures of the oracle program (non-zero exit, SCF not converged, NaN, timeouts: OracleError, see
components/oracles/base.py) are recorded with their reason and skipped; only if every structure
of a stage fails does the gather step stop the run, naming the file to read. An oracle stopped from
outside (OracleInterrupted: SIGTERM of a time limit, Ctrl-C) and any other exception (a bug in our
code, a setup mistake) stop the job unrecorded, so the rerun computes the structure.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import traceback
import time
from pathlib import Path

from ..components.oracles.base import INTERRUPT_SIGNALS, interrupting_signal, interruption
from ..components.registry import make_oracle
from ..core.crashpoints import crashpoint
from ..core.errors import OracleError, UserError
from ..core.identity import structure_hash
from ..core.io import read_structures, write_json, write_structures
from ..core.progress import Progress
from ..components.oracles.common import settings_json
from ..domain_models.records import LabelChunkRecord, LabelFailure, read_record, record_json
from .label_cache import LabelCache, attempt_settings, physics_settings, retry_failed_requested

log = logging.getLogger(__name__)


class RemoteTraceback(Exception):
    """The traceback of an exception raised in the labelling child process (its cause)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f"\n\"\"\"\n{self.text}\"\"\""


def _child(call, conn) -> None:
    os.setpgrp()  # own process group: a timeout kills the oracle's MPI children too
    try:
        conn.send(("ok", call()))
    except OracleError as exc:  # the program failed: recorded by the parent
        conn.send(("error", str(exc)))
    except BaseException as exc:  # noqa: BLE001 - a bug or a setup mistake: the parent re-raises it
        conn.send(("raise", _portable(exc), traceback.format_exc()))
    finally:
        conn.close()


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling (to cross the pipe), else a RuntimeError naming it."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any unpicklable exception
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def call_with_timeout(oracle, atoms, timeout_s: float | None):
    """Run `oracle.label` in a forked child so that a hung calculation can be killed. A program
    failure comes back as OracleError; anything else the child raised is raised here again, with the
    child's traceback as its cause (the failure rule of base.Oracle holds across the fork)."""
    return _call_with_timeout(lambda: oracle.label(atoms), oracle.name, timeout_s)


@contextlib.contextmanager
def forwarded_stop_signals(group: int):
    """While the parent waits, a stop signal it gets (INTERRUPT_SIGNALS: Snakemake cancelling the job,
    SLURM's time limit, Ctrl-C) goes on to the child's process group: the child runs in its own group (so a timeout can kill
    an MPI launcher's ranks), which the terminal's or the job runner's signal no longer reaches, and an
    MPI oracle would otherwise run on after its job ended. The child then stops as any program stopped
    from outside does (OracleInterrupted: not recorded, the rerun computes it). Yields the list of the
    signals forwarded: a launcher may turn a forwarded stop into any exit status (OpenMPI's mpirun exits
    with 1 after a SIGINT, where a SIGTERM gives 143), so the caller, not the exit status, knows that the
    calculation was stopped from outside. Only the main thread can handle signals; elsewhere nothing is
    forwarded."""
    forwarded: list[signal.Signals] = []
    if threading.current_thread() is not threading.main_thread():
        yield forwarded
        return

    def forward(signum, _frame):
        forwarded.append(signal.Signals(signum))
        try:
            os.killpg(group, signum)
        except ProcessLookupError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in INTERRUPT_SIGNALS}
    try:
        yield forwarded
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _call_with_timeout(call, name: str, timeout_s: float | None):
    if timeout_s is None:
        return call()
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(call, child), daemon=True)
    proc.start()
    child.close()
    with forwarded_stop_signals(proc.pid) as stopped:
        finished = parent.poll(timeout_s)
    message = None
    if finished:
        try:
            message = parent.recv()
        except EOFError:  # the child died without a word
            pass
    if stopped and (message is None or message[0] != "ok"):
        # stopped from outside while it ran: whatever the child or its launcher made of the signal, it
        # is not a failed calculation (a result that made it before the signal is kept)
        _kill_group(proc)
        raise interruption(name, stopped[0])
    if not finished:
        _kill_group(proc)
        raise OracleError(f"{name} timed out after {timeout_s:g} s (oracle.timeout_s)")
    proc.join()
    if message is None:
        sig = interrupting_signal(proc.exitcode)
        if sig is not None:  # the labelling child itself was stopped from outside
            raise interruption(name, sig) from None
        raise OracleError(f"{name} process died with exit code {proc.exitcode}") from None
    status, *payload = message
    if status == "raise":
        exc, text = payload
        raise exc from RemoteTraceback(text)
    if status != "ok":
        raise OracleError(payload[0])
    return payload[0]


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.join()


def label_one(oracle, atoms, cache: LabelCache, physics: dict, attempt: dict, timeout_s: float | None = None):
    """Label one structure through the cache. Returns (labelled, failure, why computed or None).

    `physics`: the settings that determine the label (the cache key; recorded in the label as
    `oracle_settings`); `attempt`: every setting, recorded with a failure so a change retries it."""
    cached, failure, why = cache.lookup(atoms, physics, attempt)
    if why is None:
        return cached, failure, None
    t0 = time.perf_counter()
    try:
        outcome = call_with_timeout(oracle, atoms, timeout_s)
    except OracleError as exc:
        outcome = exc
    labelled, failure = store_outcome(oracle.name, atoms, outcome, cache, physics, attempt, time.perf_counter() - t0)
    return labelled, failure, why


def store_outcome(oracle_name: str, atoms, outcome, cache: LabelCache, physics: dict, attempt: dict,
                  wall_time_s: float):
    """Check one oracle outcome (a labelled copy or the OracleError), put it in the cache and return
    (labelled, failure)."""
    key = structure_hash(atoms)
    if not isinstance(outcome, OracleError) and len(outcome) != len(atoms):
        outcome = OracleError(f"{oracle_name} returned {len(outcome)} atoms for a {len(atoms)}-atom structure")
    if isinstance(outcome, OracleError):
        failure = LabelFailure(hash=key, reason=str(outcome), wall_time_s=round(wall_time_s, 3),
                               oracle=oracle_name, info={k: str(v) for k, v in atoms.info.items()},
                               oracle_settings=physics, attempt_settings=attempt)
        cache.store_failure(atoms, physics, record_json(failure, drop_none=True))
        log.warning("label %s failed: %s", key, outcome)
        return None, failure
    outcome.info["label_hash"] = key
    outcome.info.setdefault("oracle_settings", settings_json(physics))
    cache.store_label(atoms, physics, outcome)
    return outcome, None


def label_batched(oracle, frames: list, cache: LabelCache, physics: list[dict], attempt: dict,
                  timeout_s: float | None = None, on_done=None):
    """Label `frames` through the cache with an oracle that labels many structures per call
    (`oracle.label_batch`, `oracle.batches`): the model starts once and each batch is one forward
    pass. Results are cached batch by batch (a killed job keeps what finished). `timeout_s` holds
    per structure: a batch of n gets n x timeout_s. `on_done(k, why)` after each structure k.
    Returns [(labelled, failure, why)] in the order of `frames`."""
    out: list = [None] * len(frames)
    todo = []
    for k, (atoms, phys) in enumerate(zip(frames, physics)):
        cached, failure, why = cache.lookup(atoms, phys, attempt)
        if why is None:
            out[k] = (cached, failure, None)
            if on_done:
                on_done(k, None)
        else:
            todo.append((k, why))
    pending = [frames[k] for k, _ in todo]
    if pending and timeout_s is not None and hasattr(oracle, "prepare"):
        oracle.prepare()  # load the model before forking, so each batch's child inherits it
    for group in oracle.batches(pending):
        members = [pending[j] for j in group]
        t0 = time.perf_counter()
        try:
            outcomes = _call_with_timeout(lambda: oracle.label_batch(members), oracle.name,
                                          None if timeout_s is None else timeout_s * len(members))
        except OracleError as exc:  # the whole batch timed out or its process died
            outcomes = [exc] * len(members)
        share = (time.perf_counter() - t0) / len(members)
        for j, outcome in zip(group, outcomes):
            k, why = todo[j]
            labelled, failure = store_outcome(oracle.name, frames[k], outcome, cache, physics[k], attempt, share)
            out[k] = (labelled, failure, why)
            if on_done:
                on_done(k, why)
    return out


def chunk_indices(n_structures: int, chunk: int, per_job: int) -> range:
    return range(min(chunk * per_job, n_structures), min((chunk + 1) * per_job, n_structures))


def run_label_chunk(rcfg, stage: str, selected_file: str, chunk: int, per_job: int, out_labels: str,
                    out_record: str, cache_dir: str, cores: int = 1, level: str | None = None) -> LabelChunkRecord:
    """Label structures [chunk*per_job, (chunk+1)*per_job) of `selected_file` (maybe none) with
    `oracle`, or with `cheap_oracle` when `level` is "cheap" (two-level labelling)."""
    frames = read_structures(selected_file)
    indices = chunk_indices(len(frames), chunk, per_job)
    cache = LabelCache(cache_dir, retry_failed=retry_failed_requested())
    ocfg = rcfg.cfg.cheap_oracle if level == "cheap" else rcfg.cfg.oracle
    if ocfg is None:
        raise UserError("cheap labels asked for, but the config has no cheap_oracle")
    oracle = make_oracle(ocfg, cores=cores) if len(indices) else None
    attempt = attempt_settings(ocfg, cores)
    labelled, failures, n_computed = [], [], 0
    why_counts: dict[str, int] = {}
    t0 = time.perf_counter()
    progress = Progress(len(indices), f"label {stage} chunk {chunk}", unit="structures", logger=log)
    for i in indices:
        frames[i].info["source_stage"] = stage
        frames[i].info["selected_index"] = i

    def done(why) -> None:
        nonlocal n_computed
        if why is not None:
            n_computed += 1
            why_counts[why] = why_counts.get(why, 0) + 1
            crashpoint("label:after_one")
        progress.update()

    if oracle is not None and hasattr(oracle, "label_batch"):  # universal potentials: one model, batches
        chunk_frames = [frames[i] for i in indices]
        outcomes = label_batched(oracle, chunk_frames, cache, [physics_settings(oracle, ocfg, a) for a in chunk_frames],
                                 attempt, ocfg.timeout_s, on_done=lambda k, why: done(why))
    else:
        outcomes = []
        for i in indices:
            outcome = label_one(oracle, frames[i], cache, physics_settings(oracle, ocfg, frames[i]), attempt,
                                ocfg.timeout_s)
            outcomes.append(outcome)
            done(outcome[2])
    oracle_s_now = 0.0
    for i, (result, failure, why) in zip(indices, outcomes):
        if result is not None:
            labelled.append(result)
            if why is not None:
                oracle_s_now += float(result.info.get("oracle_wall_time_s", 0.0))
        else:
            failures.append(failure.model_copy(update={"index": i}))
    progress.close()
    record = LabelChunkRecord(stage=stage, chunk=chunk, indices=list(indices), n_labelled=len(labelled),
                              failures=failures, n_computed_now=n_computed, computed_why=why_counts, cores=cores,
                              wall_time_s=round(time.perf_counter() - t0, 3), oracle_s_now=round(oracle_s_now, 6),
                              level=level)
    data = record_json(record)
    if level is None:  # a one-level run's records stay as they were
        data.pop("level")
    write_structures(out_labels, labelled)
    write_json(out_record, data)
    if len(indices):
        log.info("LABEL%s %s chunk %d: %d labelled, %d failed, %d computed now (%d from cache) in %.1f s",
                 f" ({level})" if level else "", stage, chunk, len(labelled), len(failures), n_computed,
                 len(indices) - n_computed, record.wall_time_s)
    redone = {k: v for k, v in why_counts.items() if k != "new"}
    if redone:
        log.info("LABEL %s chunk %d: recomputed %s", stage, chunk,
                 ", ".join(f"{v} ({k})" for k, v in redone.items()))
    return record


def run_label_cheap(rcfg, stage: str, structures_file: str, out_labels: str, out_record: str, cache_dir: str,
                    cores: int = 1) -> LabelChunkRecord:
    """Two-level labelling: the cheap oracle on every structure of `structures_file` in one job (a
    universal potential loads its model once and labels in batches). Unlike the expensive level, a
    stage whose cheap labels all fail does not stop the run: those structures simply have no prior
    (and a candidate without a cheap label goes to the expensive oracle first)."""
    n = len(read_structures(structures_file))
    return run_label_chunk(rcfg, stage, structures_file, 0, max(1, n), out_labels, out_record, cache_dir,
                           cores=cores, level="cheap")


def run_gather_labels(stage: str, label_files: list[str], record_files: list[str], out_labels: str,
                      out_failed: str) -> dict:
    labelled, failures, redone = [], [], {}
    for f, r in zip(label_files, record_files):
        labelled.extend(read_structures(f))
        record = read_record(LabelChunkRecord, r)
        failures.extend(record.failures)
        for why, k in record.computed_why.items():
            if why != "new":
                redone[why] = redone.get(why, 0) + k
    n_total = len(labelled) + len(failures)
    if n_total and not labelled:
        raise UserError(
            f"all {n_total} oracle calculations of {stage} failed (first reason: {failures[0].reason}); "
            f"the reasons are in {Path(record_files[0]).parent}/*.json, the oracle output in "
            f"logs/label/{stage}_*.log"
        )
    write_json(out_failed, [record_json(f) for f in failures])
    write_structures(out_labels, labelled)
    log.info("LABEL %s: %d labelled, %d failed%s", stage, len(labelled), len(failures),
             "".join(f"; recomputed {k} ({why})" for why, k in redone.items()))
    return {"n_labelled": len(labelled), "n_failed": len(failures)}
