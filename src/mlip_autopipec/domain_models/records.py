"""The JSON records one step writes and others read: exploration, label chunk, training.

Typed so that a reader cannot misspell a key and a writer cannot drop one: the step that writes a
record builds the model and dumps it; every reader validates the file into the model. The keys on
disk are the ones the dict-based records had, so runs made before these models still read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from ._strict import Strict
from .adaptive_gamma_config import GammaThresholds
from .state import ConditionResult


class ExplorationRecord(Strict):
    """`iter_<n>/explore/<condition>.json`: one exploration run; written last by the explore step
    (its presence means the frames file is complete), read by the gate, collect_halts, the state
    and the report."""

    condition: str = Field(description="Name of the exploration condition.")
    halted: bool = Field(description="True if gamma (or an unphysical configuration) stopped the run.")
    steps_run: int = Field(description="MD steps done (the halt step when halted).")
    budget: int = Field(description="MD steps the run was allowed this iteration.")
    max_gamma: float = Field(description="Largest max-per-atom gamma seen (inf: the trajectory blew up).")
    n_extrapolative: int = Field(0, description="Frames kept above gamma_select (the halt frame included).")
    wall_time_s: float = Field(0.0, description="Wall time of the dynamics run.")
    temperature: float | None = Field(None, description="Condition's temperature (K).")
    pressure: float | None = Field(None, description="Condition's pressure (GPa); None for NVT.")
    gamma_trace: list[tuple[int, float]] = Field(default_factory=list,
                                                 description="(step, max gamma) at every gamma check.")
    gamma_thresholds: GammaThresholds | None = Field(None, description="The thresholds used when "
                                                     "exploration.adaptive_gamma is on (None: the configured ones).")

    def condition_result(self) -> ConditionResult:
        """The part the checkpoint decides on."""
        return ConditionResult.model_validate(self.model_dump(include=set(ConditionResult.model_fields)))


class LabelFailure(Strict):
    """One failed oracle calculation: a `label_cache/<hash>.failed.json`, an entry of a label
    chunk record and of `labels_failed.json`."""

    index: int | None = Field(None, description="Index in the stage's selected.xyz (absent in the cache file).")
    hash: str = Field(description="Structure hash (core.identity), the label cache key.")
    reason: str = Field(description="One-line reason (OracleError message), naming any kept run directory.")
    wall_time_s: float = Field(description="Seconds the failed attempt took.")
    oracle: str = Field(description="Name of the oracle that failed.")
    info: dict[str, str] = Field(default_factory=dict, description="The structure's info, as strings.")
    oracle_settings: dict[str, Any] | None = Field(None, description="Settings that determine the label (the "
                                                   "cache key); a change retries the failure.")
    attempt_settings: dict[str, Any] | None = Field(None, description="Every setting of the failed attempt "
                                                    "(limits included); a change retries the failure.")


class LabelChunkRecord(Strict):
    """`<stage>/label_jobs/<chunk>.json`: what one label job did; read by gather_labels and the report."""

    stage: str = Field(description="'initial' or 'iter_<n>'.")
    chunk: int = Field(description="Chunk number of this job within the stage.")
    indices: list[int] = Field(description="Indices into selected.xyz this job was given (may be empty).")
    n_labelled: int = Field(description="Structures labelled successfully (computed now or from the cache).")
    failures: list[LabelFailure] = Field(default_factory=list, description="Failed calculations, with reasons.")
    n_computed_now: int = Field(0, description="Calculations run by this job (the rest came from the cache).")
    computed_why: dict[str, int] = Field(default_factory=dict, description="Calculations run now, counted by why "
                                         "('new', 'oracle settings changed', a retried failure).")
    cores: int = Field(1, description="Cores the oracle was given.")
    wall_time_s: float = Field(0.0, description="Wall time of the job's labelling loop.")


class RmseMetrics(Strict):
    """Energy and force errors of a potential on a set of labelled frames (core.metrics)."""

    energy_rmse_per_atom: float | None = Field(description="Energy RMSE per atom (eV/atom); None for no frames.")
    force_rmse: float | None = Field(description="Force-component RMSE (eV/Å); None for no frames.")
    n_structures: int = Field(description="Frames scored.")
    pressure_rmse_gpa: float | None = Field(
        None, description="Pressure RMSE (GPa) over the 3D-periodic frames with a stress label; None without any."
    )
    by_kind: dict[str, "RmseMetrics"] | None = Field(
        None, description="The same per portfolio kind (frames tagged info['kind']); None without tagged frames."
    )


class CompositionCheck(Strict):
    """Whether the training set determines the per-element energy terms (sampling/compositions.py)."""

    elements: list[str] = Field(description="The elements of the training set, sorted.")
    rank: int = Field(description="Numerical rank of the composition matrix (rows = structures, columns = "
                      "element fractions).")
    n_compositions: int = Field(description="Distinct compositions in the training set.")
    determined: bool = Field(description="rank == number of elements: every per-element term is determined.")
    advice: str | None = Field(None, description="When not determined: what is missing and the fix.")


class TrainRecord(Strict):
    """`<stage>/train.json`: one training job; read by the state, the report and the plan."""

    stage: str = Field(description="'initial', 'iter_<n>' or 'final_fit' (the fit after the loop).")
    n_structures: int = Field(description="Labelled structures the fit was given.")
    trainer: str = Field(description="trainer.kind that fitted.")
    kept_previous: bool = Field(False, description="True if the fit failed and the previous potential was copied.")
    fit: dict[str, Any] | None = Field(None, description="The trainer's own report of the fit (training RMSEs "
                                       "`train_energy_rmse_per_atom`, `train_force_rmse`, losses, sizes); "
                                       "absent when the fit failed.")
    error: str | None = Field(None, description="Why the fit failed (with kept_previous).")
    wall_time_s: float = Field(0.0, description="Wall time of the fit.")
    validation: RmseMetrics | None = Field(None, description="Errors on the held-out set, when there is one.")
    composition: CompositionCheck | None = Field(None, description="The rank check of the training set's "
                                                 "compositions (per-element energies determined or not).")
    prior: dict[str, Any] | None = Field(None, description="The previous potential's gamma and errors on this stage's "
                                         "new labels (steps/prior_errors.py): the calibration of gamma, and the "
                                         "spot checks' result.")


def read_record(model: type[Strict], path: str | Path):
    """Read and validate one record file."""
    from ..core.io import read_json

    return model.model_validate(read_json(path))


def record_json(record: Strict, drop_none: bool = False) -> dict:
    """The dict written to disk (python mode keeps an infinite max_gamma as JSON `Infinity`);
    `drop_none` leaves out top-level keys that are None (as the dict records did)."""
    data = record.model_dump()
    return {k: v for k, v in data.items() if v is not None} if drop_none else data


class SettingNoise(Strict):
    """How much the labels of the representative structure change when one oracle setting is tightened."""

    setting: str = Field(description="The setting tightened: kpoints, cutoff or smearing.")
    field: str = Field(description="The config field to tighten, e.g. 'oracle.kpoints'.")
    change: str = Field(description="What changed, e.g. 'k-point grid 2x2x2 -> 4x4x4'.")
    force_rms: float = Field(description="RMS over force components of tighter minus configured, eV/Å.")
    force_max: float = Field(description="Largest per-atom |ΔF| (vector norm), eV/Å.")
    energy_per_atom: float = Field(description="|Δ(E/N)| of the representative relative to its pristine parent "
                                   "(a constant shift of every energy cancels; without a parent: of E/N itself), eV/atom.")
    energy_shift_per_atom: float = Field(description="|Δ(E/N)| of the representative alone (includes the constant "
                                         "shift, which fits absorb), eV/atom.")
    wall_time_s: float = Field(description="Oracle wall time of the tighter calculations, s.")


class LabelNoiseRecord(Strict):
    """`initial/label_noise.json`: the noise floor of the labels, measured before any label is spent;
    read by the state (status line), the report and final/README.txt. The loop itself only waits for it."""

    applicable: bool = Field(description="False when the oracle has no tighter settings (EMT): nothing was computed.")
    oracle: str = Field(description="The oracle's name.")
    structure: str = Field("", description="Which structure was labelled (source in selected.xyz, atoms).")
    n_atoms: int = Field(0, description="Atoms of the representative structure.")
    has_parent: bool = Field(False, description="Energies were compared relative to the pristine parent structure.")
    settings: list[SettingNoise] = Field(default_factory=list, description="One entry per tightened setting.")
    force_rms: float = Field(0.0, description="The force noise floor, eV/Å: root-sum-square of the settings' "
                             "force_rms (independent errors add in quadrature).")
    energy_per_atom: float = Field(0.0, description="The energy noise floor, eV/atom: root-sum-square of the "
                                   "settings' energy_per_atom.")
    force_tolerance: float = Field(description="convergence.force_rmse × label_noise.max_fraction, eV/Å.")
    energy_tolerance: float = Field(description="convergence.energy_rmse × label_noise.max_fraction, eV/atom.")
    passed: bool = Field(description="Both floors within their tolerances.")
    worst_setting: str | None = Field(None, description="The setting whose tightening changed the labels most "
                                      "(relative to the tolerance).")
    message: str = Field(description="One line: the floor and, when above the tolerance, the setting to tighten.")
    base_wall_time_s: float = Field(0.0, description="Oracle wall time of one label at the configured settings "
                                    "(the representative structure), s: the first per-label cost estimate.")
    oracle_wall_time_s: float = Field(0.0, description="Oracle wall time of the whole check, s (calculations "
                                      "cached by an earlier attempt count with their recorded times).")
