"""Where every file of a run lives: the one description the rules, the plan, the state, the report,
the properties stage and the CLI all read.

A *stage directory* is `initial` (the starting data and first potential) or `iter_NNN`. Both hold
`selected.xyz → labels.extxyz → potential.{yace,yaml,asi}`, so labelling and training are the same
rules for the initial data and for every iteration.

Every function takes its stage/iteration/chunk either as a value or as a Snakemake wildcard
pattern (`labels("{stage}")`, `decision("{it}")`), so a rule's output and the plan's check that it is
done are spelled by the same function.
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
# the check of the potential to ship (a final fit): fresh spot-check frames from the last exploration,
# labelled like a stage's selection, and the decision which potential ships (shipping/verdict.py)
FINAL_CHECK = "final_check"
LABEL_STAGE_REGEX = rf"{POTENTIAL_STAGE_REGEX}|{FINAL_CHECK}"
SHIP_DECISION = f"{FINAL_CHECK}/ship.json"

STATE_FILE = "workflow_state/workflow_state.json"
TRANSITIONS_FILE = "workflow_state/transitions.jsonl"
STATE_LOCK = "workflow_state/.lock"
VALIDATION_FILE = "validation/validation.extxyz"


def validation_part(condition: str) -> str:
    """One portfolio condition's held-out frames (a job each; validation_set gathers them)."""
    return f"validation/parts/{condition}.extxyz"
REFERENCE_ENERGIES = "initial/reference_energies.json"
# the label-noise check (steps/label_noise.py): its record (the rule's output, which the initial
# label jobs wait for) and its directory of cached calculations, where the record of the last
# attempt is kept too (a run stopped for noisy labels has no output, but the status shows the floor)
LABEL_NOISE = "initial/label_noise.json"
LABEL_NOISE_DIR = "initial/label_noise_cache"
LATTICE = "initial/lattice.json"  # the oracle's lattice constants of the starting crystals (steps/lattice.py)
LATTICE_CACHE = "initial/lattice_cache"
ATTEMPT_NAME = "attempt.json"
LABEL_NOISE_ATTEMPT = f"{LABEL_NOISE_DIR}/{ATTEMPT_NAME}"
REPORT_DIR = "report"
REPORT_HTML = f"{REPORT_DIR}/report.html"
FINAL_DIR = "final"
FINAL_PROPERTIES = f"{FINAL_DIR}/properties.json"
CONVERGED_FLAG = "converged.flag"
STOPPED_FLAG = "stopped.flag"
FLAGS = (CONVERGED_FLAG, STOPPED_FLAG)
POTENTIAL_SUFFIXES = ("yace", "yaml", "asi")


LOG_DIR = "logs"
BENCHMARK_DIR = f"{LOG_DIR}/benchmark"


def benchmark_file(rule: str, job: str) -> str:
    """Snakemake's `benchmark:` table of one job of a rule (`job`: its wildcards, or a glob)."""
    return f"{BENCHMARK_DIR}/{rule}/{job}.tsv"


def it_str(n: int | str) -> str:
    """Zero-padded iteration number; a string (a wildcard such as "{it}") passes through."""
    return n if isinstance(n, str) else f"{n:0{ITER_DIGITS}d}"


def iter_dir(n: int | str) -> str:
    return f"{ITER_PREFIX}{it_str(n)}"


def stage_of_iteration(n: int) -> str:
    return iter_dir(n)


def iteration_of_stage(stage: str) -> int | None:
    m = re.fullmatch(rf"{ITER_PREFIX}(\d+)", stage)
    return int(m.group(1)) if m else None


def potential_stage_for(n: int) -> str:
    """Iteration n explores with the potential trained at the end of iteration n-1."""
    return INITIAL if n == 0 else iter_dir(n - 1)


def gamma_scale(stage: str) -> str:
    """The extrapolation-grade scale of a final fit against the loop's potential (shipping/gamma_scale.py)."""
    return f"{stage}/gamma_scale.json"


def stage_properties(stage: str) -> str:
    """The property records of a stage's potential (the properties rule's output; the gate reads the
    explored potential's under convergence.properties)."""
    return f"{properties_dir(stage)}/properties.json"


def flag(converged: bool) -> str:
    """The end-of-loop marker: converged.flag, or stopped.flag (max_cycles / patience)."""
    return CONVERGED_FLAG if converged else STOPPED_FLAG


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


def potential(stage: str, suffix: str = "yace") -> str:
    """A stage's potential: `yace` (LAMMPS/ASE evaluator), `yaml` (B-basis, for gamma), `asi` (active set)."""
    return f"{stage}/potential.{suffix}"


def design_rows(stage: str) -> str:
    """linear ACE with a ladder: the fit's design rows, which the next fit reuses."""
    return f"{stage}/design_rows.npz"


def label_job(stage: str, chunk: int | str, suffix: str) -> str:
    """One label job's output: `extxyz` (its labels) or `json` (its LabelChunkRecord)."""
    return f"{stage}/label_jobs/{chunk}.{suffix}"


# Two-level labelling (cheap_oracle, docs/two_level_labelling.md): the cheap level's labels of a stage's
# structures, in its own directory with its own cache, so the levels never share a file or a cache entry.
# Its "stages": initial (the starting set), iter_NNN (every candidate of the iteration), validation (the
# held-out set).
CHEAP = "cheap"
VALIDATION_DIR = "validation"
CHEAP_STAGE_REGEX = rf"{STAGE_REGEX}|{VALIDATION_DIR}"


def cheap_input(stage: str) -> str:
    """What the cheap level labels in `stage`: the initial set, an iteration's candidates, the held-out set."""
    if stage == VALIDATION_DIR:
        return VALIDATION_FILE
    n = iteration_of_stage(stage)
    return selected(INITIAL) if n is None else candidates(n)


def cheap_dir(stage: str) -> str:
    return f"{stage}/{CHEAP}"


def cheap_labels(stage: str) -> str:
    """The cheap level's labels of `cheap_input(stage)` (one batched job per stage)."""
    return labels(cheap_dir(stage))


def cheap_label_record(stage: str) -> str:
    """That job's LabelChunkRecord (level "cheap"): counts, failures, wall time."""
    return f"{cheap_dir(stage)}/label_job.json"


def cheap_label_cache(stage: str) -> str:
    return label_cache(cheap_dir(stage))


# the cheap level's isolated-atom energies: the energy shift between the levels of a one-composition compound
CHEAP_REFERENCE_ENERGIES = f"{INITIAL}/{CHEAP}/reference_energies.json"


# The properties stage of one potential (rules/properties.smk)
def properties_dir(stage: str) -> str:
    return f"{stage}/properties"


def property_tasks(stage: str) -> str:
    """The structures the oracle labels for the properties (relaxed, strained, defect cells)."""
    return f"{properties_dir(stage)}/tasks.extxyz"


def property_potential_frames(stage: str) -> str:
    """The same tasks evaluated with the potential."""
    return f"{properties_dir(stage)}/potential.extxyz"


def property_label_job(stage: str, chunk: int | str, suffix: str) -> str:
    return f"{properties_dir(stage)}/oracle_jobs/{chunk}.{suffix}"


def oracle_equilibrium(stage: str, suffix: str) -> str:
    """The oracle's relaxed bulk crystal (`extxyz`) and its record (`json`): every bulk property's
    oracle column is computed there (each model at its own equilibrium)."""
    return f"{properties_dir(stage)}/oracle_equilibrium.{suffix}"


def md_stability(stage: str) -> str:
    return f"{properties_dir(stage)}/md_stability.json"


def property_details(stage: str) -> str:
    return f"{properties_dir(stage)}/details.json"


def train_record(stage: str) -> str:
    return f"{stage}/train.json"


# Per-iteration files
def explore_record(n: int | str, condition: str) -> str:
    return f"{iter_dir(n)}/explore/{condition}.json"


def explore_frames(n: int | str, condition: str) -> str:
    return f"{iter_dir(n)}/explore/{condition}.extxyz"


def explore_samples(n: int | str, condition: str) -> str:
    """Frames spread over the run whatever their gamma (spot-check candidates)."""
    return f"{iter_dir(n)}/explore/{condition}.samples.extxyz"


def decision(n: int | str) -> str:
    return f"{iter_dir(n)}/exploration.json"


def halt(n: int | str) -> str:
    return f"{iter_dir(n)}/halt.xyz"


def candidates(n: int | str) -> str:
    return f"{iter_dir(n)}/candidates.xyz"


SUPERSEDED = "superseded"


def superseded_dir(n: int | str) -> str:
    """Extending a finished run: where the re-decided checkpoint's old decision is moved."""
    return f"{iter_dir(n)}/{SUPERSEDED}"


def superseded_decision(n: int | str) -> str:
    return f"{superseded_dir(n)}/exploration.json"


def property_offer(n: int | str) -> str:
    """convergence.properties: the worst property structures a continuing iteration offers to label."""
    return f"{iter_dir(n)}/property_offer.xyz"


def list_iterations(workdir: str | Path) -> list[int]:
    found = []
    for p in Path(workdir).glob(f"{ITER_PREFIX}*"):
        n = iteration_of_stage(p.name)
        if n is not None and p.is_dir():
            found.append(n)
    return sorted(found)
