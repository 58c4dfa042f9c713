"""The label cache: finished oracle calculations, keyed on the structure *and* the oracle settings.

A label is only reused when it was computed with the settings the config asks for now (the same
JSON the labels carry as `oracle_settings`); after a change of cutoff, k-points, functional or
smearing a rerun computes it again and says why. A failure is remembered with every setting of the
attempt (time limit and SCF limit included), so raising `timeout_s` or `max_scf_iterations` retries
it; `mlip-runner run --retry-failed` (environment variable `MLIP_RETRY_FAILED=1`) retries failures
without any change.

Files: `<stage>/label_cache/<structure hash>-<settings key>.extxyz` (success) or `.failed.json`.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..components.oracles.common import settings_json
from ..core.identity import settings_key, structure_hash
from ..core.io import read_structures, write_json, write_structures
from ..domain_models.records import LabelFailure, read_record

RETRY_ENV = "MLIP_RETRY_FAILED"
# Settings that never change a label's values: limits, bookkeeping, fault injection, parallel layout.
NOT_PHYSICS = {"timeout_s", "need_stress", "scratch_dir", "keep_runs", "reference_energies", "isolated_atom_box",
               "launcher", "call_log", "fail_fraction", "fail_mode", "cores", "pools"}


def physics_settings(oracle, cfg, atoms) -> dict:
    """What determines a label's values: the oracle's own `settings(atoms)` when it has one (what
    the DFT labels carry), else the config of its kind without limits and fault injection."""
    own = getattr(oracle, "settings", None)
    raw = own(atoms) if callable(own) else {"kind": cfg.kind, **cfg.model_dump(mode="json")}
    return {k: v for k, v in raw.items() if k not in NOT_PHYSICS}


def attempt_settings(cfg, cores: int) -> dict:
    """Everything a failed attempt ran with: a change to any of it deserves another try."""
    return {**cfg.model_dump(mode="json", exclude={"call_log"}), "cores": cores}


def retry_failed_requested() -> bool:
    return os.environ.get(RETRY_ENV, "") not in ("", "0")


class LabelCache:
    """One stage's cache directory, seen with one set of oracle settings."""

    def __init__(self, cache_dir: str | Path, retry_failed: bool = False):
        self.dir = Path(cache_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.retry_failed = retry_failed

    def paths(self, atoms, physics: dict) -> tuple[str, Path, Path]:
        key = structure_hash(atoms)
        stem = f"{key}-{settings_key(settings_json(physics))}"
        return key, self.dir / f"{stem}.extxyz", self.dir / f"{stem}.failed.json"

    def lookup(self, atoms, physics: dict, attempt: dict):
        """(label, failure, why): a cached label or failure valid now, else why it is computed."""
        key, ok_file, fail_file = self.paths(atoms, physics)
        if ok_file.exists():
            return read_structures(ok_file)[0], None, None
        if fail_file.exists():
            failure = read_record(LabelFailure, fail_file)
            if self.retry_failed:
                return None, None, "retry of a failure (--retry-failed)"
            if failure.attempt_settings == attempt:
                return None, failure, None
            return None, None, "retry of a failure under other oracle settings"
        others = [p for p in self.dir.glob(f"{key}*") if p.name != ok_file.name]
        if any(p.suffix == ".extxyz" for p in others) or any(p.name.endswith(".failed.json") for p in others):
            return None, None, "oracle settings changed"
        return None, None, "new"

    def store_label(self, atoms, physics: dict, labelled) -> None:
        _, ok_file, fail_file = self.paths(atoms, physics)
        write_structures(ok_file, [labelled])
        fail_file.unlink(missing_ok=True)

    def store_failure(self, atoms, physics: dict, failure: dict) -> None:
        write_json(self.paths(atoms, physics)[2], failure)
