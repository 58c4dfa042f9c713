"""`mlip-runner run --set key.sub=value`: one override syntax for the runner's own checks and for
Snakemake, which gets the same overrides as `--config key=<YAML>` (deep-merged over the config
file, as Snakemake documents), so the preflight, the plan and every job see one config."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml

from .core.errors import ConfigError
from .domain_models.config import ResolvedConfig, config_from_dict, load_config

_KEY = re.compile(r"^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$")


def parse_sets(items: list[str]) -> dict:
    """['exploration.gamma_halt=8', 'max_cycles=3'] -> {'exploration': {'gamma_halt': 8}, 'max_cycles': 3}.
    Values are YAML (`[1, 2]`, `{a: 1}`, `null`, `true` work)."""
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not _KEY.match(key):
            raise ConfigError(f"--set {item}: expected KEY.SUB=VALUE, e.g. --set exploration.gamma_halt=8.0")
        try:
            parsed = yaml.safe_load(value) if value != "" else None
        except yaml.YAMLError:
            raise ConfigError(f"--set {item}: the value is not valid YAML") from None
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item}: {part} is set to a value and to sub-keys at once")
        node[leaf] = parsed
    return out


def deep_merge(base: dict, over: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_with_overrides(path: str | Path, overrides: dict) -> ResolvedConfig:
    """The config file with the overrides merged in, validated (errors name the file and field)."""
    rcfg = load_config(path)
    if not overrides:
        return rcfg
    raw = yaml.safe_load(Path(rcfg.path).read_text()) or {}
    return config_from_dict(deep_merge(raw, overrides), rcfg.path)


def snakemake_config_args(overrides: dict) -> list[str]:
    """`--config` arguments for Snakemake: one top-level key each, its value as flow-style YAML."""
    if not overrides:
        return []
    return ["--config", *(f"{k}={yaml.safe_dump(v, default_flow_style=True, width=10**6).strip()}"
                          .removesuffix("\n...") for k, v in overrides.items())]
