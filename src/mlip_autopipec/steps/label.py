"""LABEL: run the oracle on each selected structure, one Snakemake job per chunk of structures.

Each finished calculation (success or failure) is also written to `<stage>/label_cache/<hash>.*`
the moment it ends, so a job killed halfway through a chunk recomputes nothing that had finished.
Failures of the oracle program (non-zero exit, SCF not converged, NaN, timeouts: OracleError, see
components/oracles/base.py) are recorded with their reason and skipped; only if every structure
of a stage fails does the gather step stop the run, naming the file to read. Any other exception
(a bug in our code, a setup mistake) stops the job with its traceback.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import signal
import traceback
import time
from pathlib import Path

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


def _child(oracle, atoms, conn) -> None:
    os.setpgrp()  # own process group: a timeout kills the oracle's MPI children too
    try:
        conn.send(("ok", oracle.label(atoms)))
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
    if timeout_s is None:
        return oracle.label(atoms)
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(oracle, atoms, child), daemon=True)
    proc.start()
    child.close()
    if not parent.poll(timeout_s):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.join()
        raise OracleError(f"{oracle.name} timed out after {timeout_s:g} s (oracle.timeout_s)")
    try:
        status, *payload = parent.recv()
    except EOFError:
        proc.join()
        raise OracleError(f"{oracle.name} process died with exit code {proc.exitcode}") from None
    proc.join()
    if status == "raise":
        exc, text = payload
        raise exc from RemoteTraceback(text)
    if status != "ok":
        raise OracleError(payload[0])
    return payload[0]


def label_one(oracle, atoms, cache: LabelCache, physics: dict, attempt: dict, timeout_s: float | None = None):
    """Label one structure through the cache. Returns (labelled, failure, why computed or None).

    `physics`: the settings that determine the label (the cache key; recorded in the label as
    `oracle_settings`); `attempt`: every setting, recorded with a failure so a change retries it."""
    cached, failure, why = cache.lookup(atoms, physics, attempt)
    if why is None:
        return cached, failure, None
    key = structure_hash(atoms)
    t0 = time.perf_counter()
    try:
        labelled = call_with_timeout(oracle, atoms, timeout_s)
        if len(labelled) != len(atoms):
            raise OracleError(f"{oracle.name} returned {len(labelled)} atoms for a {len(atoms)}-atom structure")
    except OracleError as exc:
        failure = LabelFailure(hash=key, reason=str(exc), wall_time_s=round(time.perf_counter() - t0, 3),
                               oracle=oracle.name, info={k: str(v) for k, v in atoms.info.items()},
                               oracle_settings=physics, attempt_settings=attempt)
        cache.store_failure(atoms, physics, record_json(failure, drop_none=True))
        log.warning("label %s failed: %s", key, exc)
        return None, failure, why
    labelled.info["label_hash"] = key
    labelled.info.setdefault("oracle_settings", settings_json(physics))
    cache.store_label(atoms, physics, labelled)
    return labelled, None, why


def chunk_indices(n_structures: int, chunk: int, per_job: int) -> range:
    return range(min(chunk * per_job, n_structures), min((chunk + 1) * per_job, n_structures))


def run_label_chunk(rcfg, stage: str, selected_file: str, chunk: int, per_job: int, out_labels: str,
                    out_record: str, cache_dir: str, cores: int = 1) -> LabelChunkRecord:
    """Label structures [chunk*per_job, (chunk+1)*per_job) of `selected_file` (maybe none)."""
    frames = read_structures(selected_file)
    indices = chunk_indices(len(frames), chunk, per_job)
    cache = LabelCache(cache_dir, retry_failed=retry_failed_requested())
    ocfg = rcfg.cfg.oracle
    oracle = make_oracle(ocfg, cores=cores) if len(indices) else None
    attempt = attempt_settings(ocfg, cores)
    labelled, failures, n_computed = [], [], 0
    why_counts: dict[str, int] = {}
    t0 = time.perf_counter()
    progress = Progress(len(indices), f"label {stage} chunk {chunk}", unit="structures", logger=log)
    for i in indices:
        atoms = frames[i]
        atoms.info["source_stage"] = stage
        atoms.info["selected_index"] = i
        result, failure, why = label_one(oracle, atoms, cache, physics_settings(oracle, ocfg, atoms), attempt,
                                         ocfg.timeout_s)
        if why is not None:
            n_computed += 1
            why_counts[why] = why_counts.get(why, 0) + 1
            crashpoint("label:after_one")
        if result is not None:
            labelled.append(result)
        else:
            failures.append(failure.model_copy(update={"index": i}))
        progress.update()
    progress.close()
    record = LabelChunkRecord(stage=stage, chunk=chunk, indices=list(indices), n_labelled=len(labelled),
                              failures=failures, n_computed_now=n_computed, computed_why=why_counts, cores=cores,
                              wall_time_s=round(time.perf_counter() - t0, 3))
    write_structures(out_labels, labelled)
    write_json(out_record, record_json(record))
    if len(indices):
        log.info("LABEL %s chunk %d: %d labelled, %d failed, %d computed now (%d from cache) in %.1f s",
                 stage, chunk, len(labelled), len(failures), n_computed, len(indices) - n_computed,
                 record.wall_time_s)
    redone = {k: v for k, v in why_counts.items() if k != "new"}
    if redone:
        log.info("LABEL %s chunk %d: recomputed %s", stage, chunk,
                 ", ".join(f"{v} ({k})" for k, v in redone.items()))
    return record


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
