"""Extending a finished or stopped run by editing its config and rerunning.

A decision that ended the loop (converged, stopped) was made under settings that the user may
since have changed: a higher `max_cycles` or `patience`, other thresholds, new exploration
conditions. Every decision records those settings (`Decision.settings`); when the Snakefile is
parsed, the loop's last decision is compared with the current config, and when it no longer holds
its file is moved to `iter_NNN/superseded/` (with the end flag and, for changed exploration
settings, that iteration's exploration records). Snakemake then simply sees a missing checkpoint
output: it reruns the `gate` (and the explorations that need it) of that one iteration, and the
loop continues from the last potential. Decisions that continued the loop are never revisited, so
nothing already labelled is labelled again.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..core import layout as L
from .decision import checkpoint, with_tolerances
from ..domain_models.property_records import read_property_records
from ..domain_models.state import Action, Decision, DecisionSettings, read_decision_or_none

log = logging.getLogger(__name__)

SUPERSEDED = L.SUPERSEDED
FLAGS = L.FLAGS


def decision_settings(cfg, iteration: int) -> DecisionSettings:
    """What an iteration's decision depends on, besides the exploration records themselves."""
    return DecisionSettings(
        max_cycles=cfg.max_cycles,
        patience=cfg.patience,
        convergence=convergence_settings(cfg),
        explore=exploration_settings(cfg, iteration),
        conditions={c.name: c.model_dump(mode="json") for c in cfg.exploration.conditions},
    )


def convergence_settings(cfg) -> dict:
    """The `convergence` settings a gamma-converged decision depends on (spot checks, property gate)."""
    conv = cfg.convergence
    return {"spot_checks": conv.spot_checks, "force_rmse": conv.force_rmse, "energy_rmse": conv.energy_rmse,
            "spot_check_patience": conv.spot_check_patience, "properties": conv.properties,
            # only when set (a portfolio): a decision recorded without it stays current
            **({"kind_force_rmse": conv.kind_force_rmse} if conv.kind_force_rmse is not None else {})}


def redecide(workdir: Path, n: int, last: Decision, earlier: list[Decision], cfg) -> Decision:
    """The last decision taken again under `cfg`, from the same records: the gate's rules in the
    same order (spot-check errors judged against the current tolerances, then the property gate on
    the properties the gate read)."""
    conv = cfg.convergence
    last_spot = (None if last.spot_check_result is None
                 else with_tolerances(last.spot_check_result, conv.force_rmse, conv.energy_rmse,
                                      conv.kind_force_rmse))
    properties = workdir / L.stage_properties(L.potential_stage_for(n))
    records = read_property_records(properties) if conv.properties and properties.is_file() else None
    return checkpoint(n, last.conditions, earlier, cfg, last_spot, records)


def exploration_settings(cfg, iteration: int) -> dict:
    """Settings that change what an exploration records (all conditions alike)."""
    ex = cfg.exploration
    return {"budget": cfg.exploration_steps(iteration), "gamma_check_interval": ex.gamma_check_interval,
            "gamma_select": ex.gamma_select, "gamma_halt": ex.gamma_halt,
            "dynamics": cfg.dynamics.model_dump(mode="json"),
            "adaptive_gamma": ex.adaptive_gamma.model_dump(mode="json")}


def _changed(old: dict | None, new: dict) -> list[str]:
    """Keys of a recorded settings dict whose value differs now. Keys the record lacks (a field
    added to the models since) are not a change: they held their default then."""
    if old is None:
        return []
    out = []
    for key, before in old.items():
        now = new.get(key)
        if isinstance(before, dict) and isinstance(now, dict):
            if _changed(before, now):
                out.append(key)
        elif before != now:
            out.append(key)
    return out


def superseded_decision(n: int) -> str:
    return L.superseded_decision(n)


@dataclass
class Extension:
    """The last decision of a run no longer holds under the current config."""

    iteration: int
    changes: list[str]
    redo_explore: list[str] = field(default_factory=list)  # conditions whose records are stale

    def files_to_redo(self) -> list[str]:
        out = [L.decision(self.iteration)]
        for cond in self.redo_explore:
            out += [L.explore_record(self.iteration, cond), L.explore_frames(self.iteration, cond)]
        return out


_read_decision = read_decision_or_none


def last_decision(workdir: Path) -> tuple[list[Decision], Decision] | None:
    """(earlier decisions, the decision that ended the loop), or None while the loop is running."""
    earlier, n = [], 0
    while True:
        decision = _read_decision(workdir / L.decision(n))
        if decision is None:
            return None
        if decision.action is not Action.CONTINUE:
            return earlier, decision
        earlier.append(decision)
        n += 1


def find_extension(workdir: str | Path, cfg) -> Extension | None:
    """What makes the run's final decision stale under `cfg` (None: it still holds)."""
    workdir = Path(workdir)
    found = last_decision(workdir)
    if found is None:
        return None
    earlier, last = found
    n = last.iteration
    old = last.settings or DecisionSettings()
    new = decision_settings(cfg, n)
    changes: list[str] = []
    redo: list[str] = []
    old_conds = old.conditions or {c.condition: None for c in last.conditions}
    added = [c for c in new.conditions if c not in old_conds]
    removed = [c for c in old_conds if c not in new.conditions]
    if added:
        changes.append(f"condition(s) {', '.join(added)} added")
    if removed:
        changes.append(f"condition(s) {', '.join(removed)} removed")
    kept = [c for c in new.conditions if c in old_conds]
    diff = _changed(old.explore, new.explore)
    if diff:
        changes.append(f"exploration settings changed ({', '.join(diff)})")
        redo = kept
    else:
        changed = [c for c in kept if old_conds[c] is not None and _changed(old_conds[c], new.conditions[c])]
        if changed:
            changes.append(f"condition(s) {', '.join(changed)} changed")
            redo = changed
    if not changes:
        redecided = redecide(workdir, n, last, earlier, cfg)
        if redecided.action is last.action:
            return None
        for key in ("max_cycles", "patience"):
            before = getattr(old, key)
            if before != getattr(cfg, key):
                changes.append(f"{key} {before if before is not None else '?'} -> {getattr(cfg, key)}")
        for key in _changed(old.convergence, new.convergence):
            changes.append(f"convergence.{key} {old.convergence[key]} -> {new.convergence[key]}")
        if not changes:  # an old decision without settings: say what the new one says
            changes.append(f"decision now {redecided.action.value}")
    return Extension(iteration=n, changes=changes, redo_explore=redo)


def supersede(workdir: str | Path, ext: Extension) -> None:
    """Move the stale files aside (kept for the record), so Snakemake recreates them."""
    workdir = Path(workdir)
    sup = workdir / L.superseded_dir(ext.iteration)
    for rel in ext.files_to_redo():
        src = workdir / rel
        if src.is_file():
            dst = sup / Path(rel).relative_to(L.iter_dir(ext.iteration))
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(src, dst)
    for flag in FLAGS:  # the loop's end is decided again: an old flag must not stand for it
        if (workdir / flag).is_file():
            sup.mkdir(parents=True, exist_ok=True)
            shutil.move(workdir / flag, sup / flag)
    log.info("extending the run at iteration %d: %s", ext.iteration, "; ".join(ext.changes))


def describe(old: Decision | None, cfg, iteration: int) -> str | None:
    """The gate's note on what was extended, from the decision it replaces."""
    if old is None:
        return None
    ext_changes = []
    before, now = old.settings or DecisionSettings(), decision_settings(cfg, iteration)
    for key in ("max_cycles", "patience"):
        if getattr(before, key) is not None and getattr(before, key) != getattr(now, key):
            ext_changes.append(f"{key} {getattr(before, key)} -> {getattr(now, key)}")
    old_conds = set(before.conditions or [c.condition for c in old.conditions])
    added = [c for c in now.conditions if c not in old_conds]
    if added:
        ext_changes.append(f"condition(s) {', '.join(added)} added")
    diff = _changed(before.explore, now.explore)
    if diff:
        ext_changes.append(f"exploration settings changed ({', '.join(diff)})")
    what = "; ".join(ext_changes) or "settings changed"
    return f"iteration {iteration} re-decided (was {old.action.value}): {what}"
