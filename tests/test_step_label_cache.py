"""The label cache (steps/label_cache.py) knows the oracle settings: a changed setting relabels and
says why, a cached failure is retried when the settings of its attempt change or on request."""

import json
import logging
from pathlib import Path

import numpy as np
import yaml

from conftest import CONFIGS
from mlip_autopipec.core.io import count_frames, read_structures, write_structures
from mlip_autopipec.sampling.structures import build_structures, initial_training_structures
from mlip_autopipec.domain_models.config import config_from_dict, load_config
from mlip_autopipec.steps.label import run_label_chunk
from mlip_autopipec.steps.label_cache import RETRY_ENV

MOCK = yaml.safe_load((CONFIGS / "mock.yaml").read_text())


# -- the label cache knows the oracle settings ------------------------------------------------------
def _stage(tmp_path: Path) -> str:
    rcfg = load_config(CONFIGS / "mock.yaml")
    structures = build_structures(rcfg.cfg.structures, rcfg.base_dir, np.random.default_rng(1))
    frames = initial_training_structures(structures, rcfg.cfg.initial_data, np.random.default_rng(2))
    write_structures(tmp_path / "selected.xyz", frames)
    return str(tmp_path / "selected.xyz")


def _label(tmp_path, selected, oracle: dict, name: str):
    raw = {**MOCK, "oracle": {"kind": "mock", "call_log": str(tmp_path / "calls.txt"), **oracle}}
    rcfg = config_from_dict(raw, tmp_path / "c.yaml")
    return run_label_chunk(rcfg, "initial", selected, 0, 100, str(tmp_path / f"{name}.extxyz"),
                           str(tmp_path / f"{name}.json"), str(tmp_path / "cache"))


def _calls(tmp_path) -> list[str]:
    p = tmp_path / "calls.txt"
    return p.read_text().split() if p.exists() else []


def test_changed_oracle_settings_relabel_and_say_why(tmp_path, caplog):
    selected = _stage(tmp_path)
    n = count_frames(selected)
    first = _label(tmp_path, selected, {}, "a")
    assert first.n_computed_now == n and len(_calls(tmp_path)) == n
    again = _label(tmp_path, selected, {}, "b")
    assert again.n_computed_now == 0 and len(_calls(tmp_path)) == n
    settings = json.loads(read_structures(tmp_path / "a.extxyz")[0].info["oracle_settings"])
    assert settings["epsilon"] == 0.35 and "call_log" not in settings and "timeout_s" not in settings
    caplog.set_level(logging.INFO)
    changed = _label(tmp_path, selected, {"epsilon": 0.5}, "c")
    assert changed.n_computed_now == n and changed.computed_why == {"oracle settings changed": n}
    assert f"recomputed {n} (oracle settings changed)" in caplog.text
    e_old = [a.get_potential_energy() for a in read_structures(tmp_path / "a.extxyz")]
    e_new = [a.get_potential_energy() for a in read_structures(tmp_path / "c.extxyz")]
    assert all(abs(x - y) > 1e-6 for x, y in zip(e_old, e_new))
    # a setting that never changes a label (the time limit) relabels nothing
    assert _label(tmp_path, selected, {"epsilon": 0.5, "timeout_s": 600}, "d").n_computed_now == 0


def test_cached_failures_retried_when_settings_change_or_on_request(tmp_path, monkeypatch):
    selected = _stage(tmp_path)
    n = count_frames(selected)
    first = _label(tmp_path, selected, {"fail_fraction": 0.5}, "a")
    failed = {f.hash for f in first.failures}
    assert 0 < len(failed) < n
    # same settings: failures are reused, nothing is computed
    assert _label(tmp_path, selected, {"fail_fraction": 0.5}, "b").n_computed_now == 0
    # --retry-failed: exactly the failures are computed again (and fail again: nothing changed)
    monkeypatch.setenv(RETRY_ENV, "1")
    retried = _label(tmp_path, selected, {"fail_fraction": 0.5}, "c")
    assert retried.computed_why == {"retry of a failure (--retry-failed)": len(failed)}
    monkeypatch.delenv(RETRY_ENV)
    # a changed setting of the attempt (here the fault injection) retries exactly the failures
    calls_before = len(_calls(tmp_path))
    fixed = _label(tmp_path, selected, {"fail_fraction": 0.0}, "d")
    assert fixed.computed_why == {"retry of a failure under other oracle settings": len(failed)}
    assert fixed.n_labelled == n and not fixed.failures
    assert sorted(_calls(tmp_path)[calls_before:]) == sorted(failed)
