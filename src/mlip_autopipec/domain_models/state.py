"""The run's state as users and tools see it (`workflow_state/workflow_state.json`).

The state is never the source of truth: it is derived from the files on disk
(`core/state.py`), so a crash between a rule's output and the state write heals itself at the next
write.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_serializer

from ._strict import Strict, read_or_none
from .adaptive_gamma_config import GammaThresholds
from .rmse import RmseMetrics
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


class DecisionSettings(Strict):
    """`settings` of a decision: what it depended on besides the exploration records. A rerun
    compares them with the current config and re-decides when they changed (loop/extension.py).
    The three groups are config snapshots compared key by key, so they stay plain dicts: a key the
    config gained since is not a change."""

    max_cycles: int | None = Field(None, description="max_cycles of the config (None: a decision recorded "
                                   "without settings).")
    patience: int | None = Field(None, description="patience of the config.")
    convergence: dict[str, Any] | None = Field(None, description="The convergence settings a converged decision "
                                               "depends on (loop/extension.convergence_settings); None in "
                                               "decisions recorded before they were.")
    explore: dict[str, Any] | None = Field(None, description="Settings that change what an exploration records "
                                           "(loop/extension.exploration_settings).")
    conditions: dict[str, dict[str, Any]] | None = Field(None, description="Every exploration condition by name, "
                                                         "as configured.")


class Decision(BaseModel):
    """The checkpoint's verdict, with the reason in words for logs and the status table."""

    iteration: int
    action: Action
    reason: str
    progress: float = Field(description="Mean share of the budget reached over conditions.")
    best_progress_before: float | None = None
    iterations_without_improvement: int = 0
    conditions: list[ConditionResult] = Field(default_factory=list)
    settings: DecisionSettings | None = Field(
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
    """The decision, or None when the file is missing or not a decision."""
    return read_or_none(read_decision, path)


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
    validation: RmseMetrics | None = Field(None, description="Errors of its fit on the held-out set (train.json).")
    timings_s: dict[str, float] = Field(default_factory=dict)
    n_functions: int | None = Field(None, description="Basis functions of the fitted potential.")
    spearman: float | None = Field(
        None, description="Rank correlation of the previous potential's per-atom gamma with its force error."
    )
    spot_check: SpotCheckResult | None = None


FinalFitOutcome = Literal["none", "shipped", "failed", "kept_earlier", "rejected"]


class _Section(BaseModel):
    """A section of `workflow_state.json` (the initial stage, the final fit, what ships, the label
    noise), typed so that readers use attributes instead of keys.

    Two choices keep the file as the dicts these models replace wrote it:
    * keys that were not set are left out when dumped: the dicts held a key only once it was known
      (`initial.validation` only after the initial fit, `final_fit.outcome` only once the ship check
      decided), and users and tools read the file with those keys absent.
    * unknown keys are ignored (not an error, unlike the records the loop reads back): the state is
      a view derived from the run's files and rewritten on every refresh, never read by the loop; a
      file written by another version (a killed run resumed after an upgrade, `mlip-runner status`
      of an older run) may hold a key this version dropped, and must still load.
    """

    model_config = ConfigDict(extra="ignore")

    @model_serializer(mode="wrap")
    def _set_keys_only(self, handler):
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set}


class InitialSummary(_Section):
    """`initial`: the initial data and its fit (core/layout: initial/)."""

    n_selected: int | None = Field(None, description="Starting structures to label (None: not built yet).")
    n_labelled: int | None = Field(None, description="Of them labelled (None: labels not gathered yet).")
    n_failed: int | None = Field(None, description="Of them failed in the oracle (None: not gathered yet).")
    validation: RmseMetrics | None = Field(None, description="The initial fit's held-out errors (set once "
                                           "it is fitted; None without a held-out set).")
    dataset_size: int | None = Field(None, description="Labels the initial fit was given (set once fitted).")
    n_functions: int | None = Field(None, description="Basis functions of the initial fit (set once fitted).")


class FinalFitSummary(_Section):
    """`final_fit`: the fit after the loop (trainer.ladder.final_rungs), once its potential exists."""

    dataset_size: int = Field(description="Labels it was given (the loop's).")
    validation: RmseMetrics | None = Field(description="Its held-out errors (None without a held-out set).")
    n_functions: int | None = Field(description="Basis functions of the fit.")
    kept_previous: bool = Field(description="Keep-the-best preferred the earlier fit.")
    train_s: float = Field(description="Wall time of the fit (s).")
    outcome: FinalFitOutcome | None = Field(None, description="What the ship check made of it (set once "
                                            "final_check/ship.json exists): shipped, failed, kept_earlier, rejected.")
    reason: str | None = Field(None, description="Why, in words (set with the outcome).")
    spot_check: SpotCheckResult | None = Field(None, description="Its errors on the fresh spot-check frames "
                                               "(set with the outcome; None when not checked).")


class MdStabilitySummary(_Section):
    """The part of a potential's MD stability run (`<stage>/properties/md_stability.json`, read as
    property_files.MdStabilityResult, whose `summary()` makes this) that the state shows and the ship
    verdict judges. The file holds more (the trace, distances): the state leaves them out."""

    max_gamma: float | None = Field(None, description="Largest max gamma along the run (None: no active set).")
    gamma_threshold: float | None = Field(None, description="The bound on it that applies to this potential.")
    gamma_threshold_reason: str | None = Field(None, description="Where the bound comes from "
                                               "(properties.tolerances.md_max_gamma or the final fit's gamma scale).")
    exploded: str | None = Field(None, description="Why the run broke off, if it did.")
    steps_run: int | None = Field(None, description="MD steps done.")
    steps: int | None = Field(None, description="MD steps asked for.")
    max_energy_drift: float | None = Field(None, description="Largest total-energy drift (eV/atom).")
    temperature_K: float | None = Field(None, description="Target temperature (K).")
    n_atoms: int | None = Field(None, description="Atoms of the MD cell.")


class ShippedSummary(_Section):
    """`shipped`: what final/ ships once the loop has ended, and the end criteria measured with it."""

    stage: str = Field(description="Stage directory of the shipped potential.")
    potential: str = Field(description="Its potential file, relative to the run directory.")
    final_fit: FinalFitOutcome = Field(description="What became of the final fit (none: not configured).")
    reason: str = Field(description="Why this potential ships, in words.")
    spot_check: SpotCheckResult | None = Field(description="Its spot checks (None: none were labelled).")
    spot_check_frames: str | None = Field(description="Which frames the spot checks were, in words.")
    final_fit_spot_check: SpotCheckResult | None = Field(None, description="The final fit's own spot checks "
                                                         "(set when final_check/ship.json decided).")
    md_stability: MdStabilitySummary | None = Field(description="Its MD stability run (None: not run).")


class LabelNoiseSummary(_Section):
    """`label_noise`: the label-noise check (initial/label_noise.json, else its last attempt's record)."""

    applicable: bool = Field(description="False when the oracle has no tighter settings: nothing was computed.")
    passed: bool = Field(description="Both noise floors within their tolerances.")
    stopped: bool = Field(description="The run stopped here: the attempt did not pass.")
    force_rms: float = Field(description="The force noise floor (eV/Å).")
    energy_per_atom: float = Field(description="The energy noise floor (eV/atom).")
    worst_setting: str | None = Field(description="The setting whose tightening changed the labels most.")
    message: str = Field(description="The check's one-line message.")
    base_wall_time_s: float = Field(0.0, description="Oracle wall time of one label at the configured settings (s).")
    oracle_wall_time_s: float = Field(0.0, description="Oracle wall time of the whole check (s).")


class LevelSummary(Strict):
    """One entry of `levels` (two-level labelling): one oracle level's labels and their cost, over every stage."""

    level: Literal["expensive", "cheap"] = Field(description="expensive: `oracle` (the judge); cheap: `cheap_oracle`.")
    n_labelled: int = Field(description="Structures labelled (training labels and spot checks; property jobs apart).")
    n_failed: int = Field(description="Calculations that failed.")
    wall_time_s: float = Field(description="Wall time of the label jobs' labelling loops, summed (s): the level's cost "
                               "(cache hits cost nothing).")
    n_jobs: int = Field(description="Label jobs that finished.")


class WorkflowState(BaseModel):
    status: Status
    iteration: int = Field(description="Iteration in progress (or the last one, when finished).")
    current_potential: str | None = None
    message: str = ""
    initial: InitialSummary | None = Field(None, description="The initial data and its fit; {} on disk when None.")
    history: list[IterationRecord] = Field(default_factory=list)
    final_fit: FinalFitSummary | None = Field(None, description="The fit after the loop (trainer.ladder.final_rungs); "
                                              "None ({} on disk) without one.")
    shipped: ShippedSummary | None = Field(None, description="What final/ ships once the loop has ended, and the "
                                           "end criteria measured with it (final_check/ship.json); None ({} on disk) "
                                           "before.")
    updated_at: str = ""
    label_noise: LabelNoiseSummary | None = Field(None, description="The label-noise check (loop/state."
                                                  "label_noise_summary); None ({} on disk) before it.")
    warnings: list[str] = Field(default_factory=list, description="What the newest fit says is wrong with its "
                                "training set, with the fix (e.g. per-element energies not determined).")
    properties: dict[str, PropertyStageSummary] = Field(
        default_factory=dict, description="Properties stage per potential stage: oracle calculations (n_tasks, "
        "n_labelled, n_failed), verdicts (n_ok of n_properties) and the table's self-check (self_check: ok | FAILED "
        "| skipped).")

    levels: list[LevelSummary] | None = Field(
        None, description="Two-level labelling (cheap_oracle): labels and cost per level; absent in a one-level run.")

    @model_serializer(mode="wrap")
    def _no_levels_in_one_level_runs(self, handler):
        """A one-level run's state file keeps the keys it had before two-level labelling existed."""
        data = handler(self)
        if self.levels is None:
            data.pop("levels", None)
        return data

    @field_validator("initial", "final_fit", "shipped", "label_noise", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        """The file writes a section not there yet as {} (as the dicts before these models did)."""
        return None if value == {} else value

    @field_serializer("initial", "final_fit", "shipped", "label_noise", mode="wrap")
    def _none_is_empty(self, value, handler):
        return {} if value is None else handler(value)
