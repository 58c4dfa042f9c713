"""Where every file of a run lives, in one place for the rules, the state and the CLI.

A *stage directory* is `initial` (the starting data and first potential) or `iter_NNN`. Both hold
`selected.xyz → labels.extxyz → potential.{yace,yaml,asi}`, so labelling and training are the same
rules for the initial data and for every iteration.
"""

from __future__ import annotations

import re
from pathlib import Path

INITIAL = "initial"
ITER_PREFIX = "iter_"
ITER_DIGITS = 3
# written without `{n,}` quantifiers: Snakemake's wildcard parser reads braces as wildcards
ITER_REGEX = r"\d" * ITER_DIGITS + "+"
STAGE_REGEX = rf"{INITIAL}|{ITER_PREFIX}{ITER_REGEX}"
# the final fit (trainer.ladder.final_rungs): a potential of the loop's labels, fitted after it ended,
# with no labels of its own; its properties are computed like a stage's
FINAL_FIT = "final_fit"
POTENTIAL_STAGE_REGEX = rf"{STAGE_REGEX}|{FINAL_FIT}"

STATE_FILE = "workflow_state/workflow_state.json"
TRANSITIONS_FILE = "workflow_state/transitions.jsonl"
STATE_LOCK = "workflow_state/.lock"
VALIDATION_FILE = "validation/validation.extxyz"
REFERENCE_ENERGIES = "initial/reference_energies.json"
# the label-noise check (steps/label_noise.py): its record (the rule's output, which the initial
# label jobs wait for) and its directory of cached calculations, where the record of the last
# attempt is kept too (a run stopped for noisy labels has no output, but the status shows the floor)
LABEL_NOISE = "initial/label_noise.json"
LABEL_NOISE_DIR = "initial/label_noise_cache"
ATTEMPT_NAME = "attempt.json"
LABEL_NOISE_ATTEMPT = f"{LABEL_NOISE_DIR}/{ATTEMPT_NAME}"
REPORT_DIR = "report"
FINAL_DIR = "final"


def it_str(n: int) -> str:
    return f"{n:0{ITER_DIGITS}d}"


def iter_dir(n: int) -> str:
    return f"{ITER_PREFIX}{it_str(n)}"


def stage_of_iteration(n: int) -> str:
    return iter_dir(n)


def iteration_of_stage(stage: str) -> int | None:
    m = re.fullmatch(rf"{ITER_PREFIX}(\d+)", stage)
    return int(m.group(1)) if m else None


def potential_stage_for(n: int) -> str:
    """Iteration n explores with the potential trained at the end of iteration n-1."""
    return INITIAL if n == 0 else iter_dir(n - 1)


def stage_properties(stage: str) -> str:
    """The property records of a stage's potential (the properties rule's output; the gate reads the
    explored potential's under convergence.properties)."""
    return f"{stage}/properties/properties.json"


def stages_up_to(stage: str) -> list[str]:
    """All stage directories whose labels train the potential of `stage` (in order)."""
    n = iteration_of_stage(stage)
    if n is None:
        return [INITIAL]
    return [INITIAL] + [iter_dir(k) for k in range(n + 1)]


def previous_stage(stage: str) -> str | None:
    n = iteration_of_stage(stage)
    if n is None:
        return None
    return potential_stage_for(n)


# Per-stage files (relative to the run directory)
def selected(stage: str) -> str:
    return f"{stage}/selected.xyz"


def labels(stage: str) -> str:
    return f"{stage}/labels.extxyz"


def labels_failed(stage: str) -> str:
    return f"{stage}/labels_failed.json"


def label_cache(stage: str) -> str:
    return f"{stage}/label_cache"


def potential_dir(stage: str) -> str:
    return stage


def train_record(stage: str) -> str:
    return f"{stage}/train.json"


# Per-iteration files
def explore_record(n: int, condition: str) -> str:
    return f"{iter_dir(n)}/explore/{condition}.json"


def explore_frames(n: int, condition: str) -> str:
    return f"{iter_dir(n)}/explore/{condition}.extxyz"


def explore_samples(n: int, condition: str) -> str:
    """Frames spread over the run whatever their gamma (spot-check candidates)."""
    return f"{iter_dir(n)}/explore/{condition}.samples.extxyz"


def decision(n: int) -> str:
    return f"{iter_dir(n)}/exploration.json"


def halt(n: int) -> str:
    return f"{iter_dir(n)}/halt.xyz"


def candidates(n: int) -> str:
    return f"{iter_dir(n)}/candidates.xyz"


def list_iterations(workdir: str | Path) -> list[int]:
    found = []
    for p in Path(workdir).glob(f"{ITER_PREFIX}*"):
        n = iteration_of_stage(p.name)
        if n is not None and p.is_dir():
            found.append(n)
    return sorted(found)
