"""The whole-loop preview that `snakemake --dry-run` cannot give.

Snakemake's dry run of a checkpoint loop shows only the jobs up to the next checkpoint and marks
the rest `<TBD>`; this prints what every iteration will run, the bounds, and where a rerun resumes.
"""

from __future__ import annotations

from pathlib import Path

from .core.state import derive_state

ITERATION_STAGES = ("explore", "gate", "collect_halts", "candidates", "select", "label", "train")


def jobs_per_iteration(rcfg) -> dict[str, int]:
    jobs = {stage: 1 for stage in ITERATION_STAGES}
    jobs["explore"] = len(rcfg.cfg.exploration.conditions)
    return jobs


def format_plan(rcfg, workdir: str | Path) -> str:
    cfg = rcfg.cfg
    state = derive_state(workdir)
    jobs = jobs_per_iteration(rcfg)
    lines = [
        f"Plan for {rcfg.path} in {Path(workdir).resolve()}",
        f"  initial: initial_structures, reference_energies, label, train"
        + (" (+ validation_set)" if cfg.validation.file or cfg.validation.n_generated else ""),
        "  each iteration n: " + ", ".join(f"{s} x{k}" for s, k in jobs.items())
        + f"  ({sum(jobs.values())} jobs; label/select/... only if an exploration halted)",
        f"  exploration: {len(cfg.exploration.conditions)} condition(s) "
        f"({', '.join(c.name for c in cfg.exploration.conditions)}), "
        f"{cfg.exploration_steps(0)} steps in iteration 0"
        + (f", x{cfg.exploration.steps_growth} per iteration" if cfg.exploration.steps_growth != 1 else ""),
        f"  per halt: {cfg.candidates.n_candidates} candidates -> {cfg.selection.n_select} selected "
        f"({cfg.selection.kind}) -> labelled by {cfg.oracle.kind} -> {cfg.trainer.kind} fit",
        f"  stops: converged (every condition runs its budget), max_cycles={cfg.max_cycles} "
        f"(last iteration iter_{cfg.max_cycles - 1:03d}), patience={cfg.patience} iterations without "
        f"improvement; at most {cfg.max_cycles * sum(jobs.values())} iteration jobs",
        f"  resume point: {state.status.value} at iteration {state.iteration}"
        + (f" ({state.message})" if state.message else ""),
    ]
    return "\n".join(lines)
