"""The run's state as users and tools see it (`workflow_state/workflow_state.json`).

The state is never the source of truth: it is derived from the files on disk
(`core/state.py`), so a crash between a rule's output and the state write heals itself at the next
write.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, Field

from .adaptive_gamma_config import GammaThresholds
from .property_summary import PropertyStageSummary


class Status(str, Enum):
    INITIALIZING = "INITIALIZING"  # building, labelling and fitting the initial data
    EXPLORING = "EXPLORING"
    REFINING = "REFINING"  # candidates and selection
    LABELING = "LABELING"
    TRAINING = "TRAINING"
    CONVERGED = "CONVERGED"
    STOPPED_MAX_CYCLES = "STOPPED_MAX_CYCLES"
    STOPPED_PATIENCE = "STOPPED_PATIENCE"
    FAILED = "FAILED"


class Action(str, Enum):
    """What the checkpoint decided after an iteration's exploration."""

    CONTINUE = "continue"
    CONVERGED = "converged"
    STOP_MAX_CYCLES = "stop_max_cycles"
    STOP_PATIENCE = "stop_patience"

    @property
    def terminal_status(self) -> Status | None:
        return {
            Action.CONVERGED: Status.CONVERGED,
            Action.STOP_MAX_CYCLES: Status.STOPPED_MAX_CYCLES,
            Action.STOP_PATIENCE: Status.STOPPED_PATIENCE,
        }.get(self)

    @property
    def ends_converged(self) -> bool:
        """An end of the loop that is convergence (core/layout.flag names its marker file)."""
        return self is Action.CONVERGED


class ConditionResult(BaseModel):
    """One exploration run (one condition) of one iteration."""

    condition: str
    halted: bool
    steps_run: int
    budget: int
    max_gamma: float
    n_extrapolative: int = 0
    wall_time_s: float = 0.0

    @property
    def progress(self) -> float:
        """Share of the budget reached before halting (1.0 = ran through)."""
        return 1.0 if not self.halted else self.steps_run / max(self.budget, 1)


class SpotCheckResult(BaseModel):
    """The oracle's verdict on a gamma-converged potential: its errors on frames sampled from its
    own explorations (labelled in iteration `iteration`), against the configured tolerances."""

    iteration: int = Field(description="Iteration whose labels were the spot checks.")
    n_structures: int
    force_rmse: float | None = Field(None, description="eV/Å")
    energy_rmse_per_atom: float | None = Field(None, description="eV/atom")
    force_tolerance: float
    energy_tolerance: float
    force_rmse_by_kind: dict[str, float] = Field(default_factory=dict, description="eV/Å, per kind of the "
                                                 "spot frames (their condition's portfolio kind, else the condition).")
    kind_force_tolerance: float | None = Field(None, description="eV/Å; None: kinds not checked on their own.")
    passed: bool


    def worst_kind(self) -> tuple[str, float] | None:
        """(kind, force RMSE) of the kind furthest from passing, or None."""
        if not self.force_rmse_by_kind:
            return None
        kind = max(self.force_rmse_by_kind, key=lambda k: (self.force_rmse_by_kind[k], k))
        return kind, self.force_rmse_by_kind[kind]


class Decision(BaseModel):
    """The checkpoint's verdict, with the reason in words for logs and the status table."""

    iteration: int
    action: Action
    reason: str
    progress: float = Field(description="Mean share of the budget reached over conditions.")
    best_progress_before: float | None = None
    iterations_without_improvement: int = 0
    conditions: list[ConditionResult] = Field(default_factory=list)
    settings: dict | None = Field(
        None, description="What the decision depended on besides the records (max_cycles, patience, "
        "exploration settings, conditions): a rerun re-decides when they changed (loop_extension)."
    )
    extended: str | None = Field(
        None, description="How the run was extended at or before this iteration (carried forward)."
    )
    spot_check: bool = Field(False, description="This iteration labels spot checks instead of a selection.")
    spot_check_result: SpotCheckResult | None = Field(
        None, description="The previous iteration's spot checks, when this decision used them."
    )
    gamma_thresholds: GammaThresholds | None = Field(
        None, description="The explorations' adaptive gamma thresholds (exploration.adaptive_gamma), if on."
    )



def read_decision(path) -> Decision:
    """The checkpoint's decision file (`iter_NNN/exploration.json`), validated: the one reader every
    step, the plan, the state and the rules use."""
    from pathlib import Path

    return Decision.model_validate_json(Path(path).read_text())


def read_decision_or_none(path) -> Decision | None:
    """The decision, or None when the file is missing or not a decision (a foreign partial file; ours
    are written atomically)."""
    from pathlib import Path

    if not Path(path).is_file():
        return None
    try:
        return read_decision(path)
    except ValueError:
        return None

class IterationRecord(BaseModel):
    iteration: int
    potential_in: str | None = None
    conditions: list[ConditionResult] = Field(default_factory=list)
    halted_conditions: list[str] = Field(default_factory=list)
    halt_step: int | None = Field(None, description="Earliest halt step over conditions.")
    max_gamma: float | None = None
    action: Action | None = None
    reason: str | None = None
    n_candidates: int | None = None
    n_selected: int | None = None
    n_labelled: int | None = None
    n_failed: int | None = None
    dataset_size: int | None = None
    potential_out: str | None = None
    validation: dict | None = None
    timings_s: dict[str, float] = Field(default_factory=dict)
    n_functions: int | None = Field(None, description="Basis functions of the fitted potential.")
    spearman: float | None = Field(
        None, description="Rank correlation of the previous potential's per-atom gamma with its force error."
    )
    spot_check: SpotCheckResult | None = None


class WorkflowState(BaseModel):
    status: Status
    iteration: int = Field(description="Iteration in progress (or the last one, when finished).")
    current_potential: str | None = None
    message: str = ""
    initial: dict = Field(default_factory=dict)
    history: list[IterationRecord] = Field(default_factory=list)
    final_fit: dict = Field(default_factory=dict, description="The fit after the loop (trainer.ladder.final_rungs): "
                            "dataset_size, n_functions, validation, kept_previous; empty without one.")
    shipped: dict = Field(default_factory=dict, description="What final/ ships once the loop has ended: stage, "
                          "potential, final_fit (none | shipped | failed | kept_earlier | rejected), reason, and the "
                          "end criteria measured with it: spot_check, md_stability (final_check/ship.json).")
    updated_at: str = ""
    label_noise: dict = Field(default_factory=dict, description="The label-noise check (core.state."
                              "label_noise_summary): force_rms, energy_per_atom, passed, stopped, message; {} before it.")
    warnings: list[str] = Field(default_factory=list, description="What the newest fit says is wrong with its "
                                "training set, with the fix (e.g. per-element energies not determined).")
    properties: dict[str, PropertyStageSummary] = Field(
        default_factory=dict, description="Properties stage per potential stage: oracle calculations (n_tasks, "
        "n_labelled, n_failed), verdicts (n_ok of n_properties) and the table's self-check (self_check: ok | FAILED "
        "| skipped).")
