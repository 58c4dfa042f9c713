"""LABEL: run the oracle on each selected structure, caching every result on disk.

Each finished calculation (success or failure) is written to `<stage>/label_cache/<hash>.*` as
soon as it ends, so a killed run recomputes nothing that had finished. Failures are recorded with
their reason and skipped; only if every structure fails does the step stop the run.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..components.registry import make_oracle
from ..core.errors import OracleError, UserError
from ..core.identity import structure_hash
from ..core.io import read_json, read_structures, write_json, write_structures

log = logging.getLogger(__name__)


def label_one(oracle, atoms, cache_dir: Path) -> tuple[object | None, dict | None, bool]:
    """Label one structure through the cache. Returns (labelled, failure, computed_now)."""
    key = structure_hash(atoms)
    ok_file, fail_file = cache_dir / f"{key}.extxyz", cache_dir / f"{key}.failed.json"
    if ok_file.exists():
        return read_structures(ok_file)[0], None, False
    if fail_file.exists():
        return None, read_json(fail_file), False
    t0 = time.perf_counter()
    try:
        labelled = oracle.label(atoms)
    except OracleError as exc:
        failure = {"hash": key, "reason": str(exc), "wall_time_s": round(time.perf_counter() - t0, 3),
                   "oracle": oracle.name, "info": {k: str(v) for k, v in atoms.info.items()}}
        write_json(fail_file, failure)
        log.warning("label %s failed: %s", key, exc)
        return None, failure, True
    labelled.info["label_hash"] = key
    write_structures(ok_file, [labelled])
    return labelled, None, True


def run_label(rcfg, stage: str, selected_file: str, out_labels: str, out_failed: str, cache_dir: str,
              log_file: str | None = None) -> dict:
    oracle = make_oracle(rcfg.cfg.oracle)
    frames = read_structures(selected_file)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    labelled, failures, n_computed = [], [], 0
    t0 = time.perf_counter()
    for i, atoms in enumerate(frames):
        atoms.info["source_stage"] = stage
        result, failure, computed = label_one(oracle, atoms, cache)
        n_computed += computed
        if result is not None:
            labelled.append(result)
        else:
            failures.append({"index": i, **failure})
    if frames and not labelled:
        raise UserError(
            f"all {len(frames)} oracle calculations of {stage} failed (first reason: "
            f"{failures[0]['reason']}); see {out_failed} and {log_file or 'the label log'}"
        )
    write_json(out_failed, failures)
    write_structures(out_labels, labelled)
    summary = {"n_structures": len(frames), "n_labelled": len(labelled), "n_failed": len(failures),
               "n_computed_now": n_computed, "wall_time_s": round(time.perf_counter() - t0, 3)}
    log.info("LABEL %s: %d labelled, %d failed, %d computed now (%d from cache) in %.1f s", stage,
             len(labelled), len(failures), n_computed, len(frames) - n_computed, summary["wall_time_s"])
    return summary
