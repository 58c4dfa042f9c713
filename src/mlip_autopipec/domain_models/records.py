"""The JSON records one step writes and others read: exploration, label chunk, training.

Typed so that a reader cannot misspell a key and a writer cannot drop one: the step that writes a
record builds the model and dumps it; every reader validates the file into the model. The keys on
disk are the ones the dict-based records had, so runs made before these models still read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, TypeAdapter, field_validator

from ._strict import Strict
from .adaptive_gamma_config import GammaThresholds
from .rmse import RmseMetrics
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


_LABEL_FAILURES = TypeAdapter(list[LabelFailure])
_REFERENCE_ENERGIES = TypeAdapter(dict[str, float])


def read_label_failures(path: str | Path) -> list[LabelFailure]:
    """`<stage>/labels_failed.json` (the label step's gathered failures), validated."""
    from ..core.io import read_json

    return _LABEL_FAILURES.validate_python(read_json(path))


def read_reference_energies_file(path: str | Path) -> dict[str, float]:
    """`initial/reference_energies.json`: the oracle's isolated-atom energy per element (eV), validated
    so a hand-edited or foreign file fails here with its path rather than inside a fit."""
    from ..core.io import read_json

    return _REFERENCE_ENERGIES.validate_python(read_json(path))


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
    oracle_s_now: float = Field(0.0, description="Oracle wall time of the calculations run by this job (the labels' "
                                "oracle_wall_time_s; a cached label's was spent by an earlier job, e.g. the label-noise check).")
    level: Literal["cheap"] | None = Field(
        None, description="Two-level labelling: 'cheap' for the cheap oracle's job (<stage>/cheap/); absent: the "
        "expensive oracle (`oracle`), the only level of a one-level run.")


class CompositionCheck(Strict):
    """Whether the training set determines the per-element energy terms (sampling/compositions.py)."""

    elements: list[str] = Field(description="The elements of the training set, sorted.")
    rank: int = Field(description="Numerical rank of the composition matrix (rows = structures, columns = "
                      "element fractions).")
    n_compositions: int = Field(description="Distinct compositions in the training set.")
    determined: bool = Field(description="rank == number of elements: every per-element term is determined.")
    advice: str | None = Field(None, description="When not determined: what is missing and the fix.")
    fixed_composition: bool = Field(
        False, description="Every training structure is a non-periodic molecule or cluster of one composition, "
        "or a compound with a nonmetal (MgO, SiC) of one stoichiometry: the undetermined split of its energy "
        "among the elements changes no energy or force at that composition, only energies at other compositions "
        "(logged as information, not as a warning).")

    @property
    def warning(self) -> str | None:
        """The advice where it is a warning (log, status, final/README.txt): the terms are undetermined
        and the potential may be used at other compositions."""
        return None if self.determined or self.fixed_composition else self.advice

    @property
    def note(self) -> str | None:
        """The advice where it is information only: a molecule, cluster or compound at its one composition."""
        return self.advice if self.fixed_composition else None


def _none_if_empty(value):
    """Records written before LadderRecord had `holdout: {}` for a rung that was not scored."""
    return None if value == {} else value


class HoldoutErrors(Strict):
    """Errors of a fit on the held-out share (or, with nothing held out, on the fitted labels): the
    fit's own row weights on the rows it trusts (scoring/fit_weights.py)."""

    energy_rmse_per_atom: float | None = Field(description="Energy RMSE per atom over structures whose energy is a "
                                               "label (eV/atom); None without any.")
    force_rmse: float | None = Field(description="Force-component RMSE over trusted components (eV/Å); None without any.")
    # defaults: records written before scoring/fit_weights (the score lived beside these errors) still read
    score: float | None = Field(None, description="The ladder's score: energy and force rows with the fit's weights, "
                                "normalised by the force weight (eV/Å); lower is better.")
    n_structures: int | None = Field(None, description="Structures scored.")
    n_energy_labels: int | None = Field(None, description="Scored structures whose energy is a label.")
    pressure_rmse_gpa: float | None = Field(None, description="Pressure RMSE (GPa) over scored cells with a stress "
                                            "label; None without any.")


class LadderRung(Strict):
    """One candidate basis size of a ladder fit (a linear ACE rung or a pacemaker ladder step)."""

    index: int = Field(description="Rung number (linear ACE) or pacemaker ladder step.")
    functions_per_element: dict[str, int] = Field(description="Basis functions per element.")
    allowed: bool = Field(description="Enough atomic environments per function in the fitted part.")
    reason: str = Field("", description="Why the rung is not allowed ('' if it is).")
    score: float | None = Field(None, description="Held-out score (None when not allowed).")
    holdout: HoldoutErrors | None = Field(None, description="Held-out errors (None when not allowed).")

    @field_validator("holdout", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return _none_if_empty(value)


class SelectionDetail(Strict):
    """One rung under the `larger_within_se` rule."""

    excess: float = Field(description="Its score minus the lowest score (eV/Å).")
    standard_error: float = Field(description="Paired-bootstrap standard error of that excess (eV/Å).")


class LadderSelection(Strict):
    """How the rung was chosen when `trainer.ladder.larger_within_se` is set."""

    rule: str = Field(description="The rule in words.")
    lowest_score_rung: int = Field(description="The rung with the lowest held-out score.")
    rungs: dict[str, SelectionDetail] = Field(description="Per scored rung (by index as a string): excess and "
                                              "its standard error.")


class HoldoutStandIn(Strict):
    """The held-out-share stand-in of a fit: the chosen rung fitted without the held-out share,
    kept so the next fit can score it on its own (larger) held-out share (keep-the-best)."""

    rung: dict[str, Any] = Field(description="Which basis: a linear ACE rung (BasisRung fields) or a pacemaker "
                                 "ladder step (`ladder_step`, `n_functions`).")
    score: float | None = Field(description="Its score on the held-out share of the fit that made it.")
    stage: str | None = Field(None, description="The stage whose fit made it.")
    coefficients: list[float] | None = Field(None, description="Linear ACE: the basis coefficients.")
    functions_per_element: dict[str, int] | None = Field(None, description="pacemaker: functions per element.")
    potential_yaml: str | None = Field(None, description="pacemaker: the potential, as yaml text.")


class KeepBest(Strict):
    """The comparison of this fit's stand-in with the earlier best one on this fit's held-out share."""

    note: str | None = Field(None, description="Why no comparison was made (the earlier basis is not part of "
                             "this ladder).")
    previous_stage: str | None = Field(None, description="The stage whose stand-in was compared.")
    previous_score: float | None = Field(None, description="Its score on this held-out share.")
    previous_holdout: HoldoutErrors | None = Field(None, description="Its errors on this held-out share.")
    score: float | None = Field(None, description="This fit's stand-in's score.")
    kept_previous: bool = Field(False, description="True: the earlier potential is shipped again.")
    rule: str | None = Field(None, description="With `larger_within_se`: the rule that decided.")
    standard_error: float | None = Field(None, description="With `larger_within_se`: the larger standard error "
                                         "of the pair (eV/Å).")


class LadderRecord(Strict):
    """`fit.ladder` of train.json: the basis size a ladder fit chose on the held-out share, every
    candidate's score, and keep-the-best (components/trainers/ladder.py writes it for both trainers)."""

    chosen_rung: int = Field(description="Index of the chosen rung (pacemaker: ladder step).")
    functions_per_element: dict[str, int] = Field(description="Basis functions per element of the chosen rung.")
    rung: dict[str, Any] = Field(description="The chosen rung: BasisRung fields (linear ACE) or `ladder_step`, "
                                 "`n_functions` (pacemaker).")
    n_holdout: int = Field(description="Labels held out to score the rungs.")
    n_fit: int = Field(description="Labels the rungs were fitted on.")
    environments_per_element: dict[str, int] = Field(description="Atomic environments per element in the fitted part.")
    holdout: HoldoutErrors | None = Field(description="The chosen rung's held-out errors (None if no rung was allowed).")
    rungs: list[LadderRung] = Field(description="Every candidate, in ladder order.")
    selection: LadderSelection | None = Field(None, description="With `larger_within_se`: how the rung was chosen.")
    keep_best: KeepBest | None = Field(description="The comparison with the earlier best stand-in (None: not compared).")
    holdout_fit: HoldoutStandIn | None = Field(description="The best stand-in so far: this fit's, or the earlier one "
                                               "if that scored better.")
    ladder_step: int | float | list[int | float] | None = Field(None, description="pacemaker: `fit.ladder_step`.")
    ladder_type: str | None = Field(None, description="pacemaker: `fit.ladder_type`.")
    refit: bool | None = Field(None, description="pacemaker: the chosen size was refitted on all labels.")
    ladder_time_s: float | None = Field(None, description="pacemaker: wall time of ladder and refit (s).")

    @field_validator("holdout", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return _none_if_empty(value)


class TwoLevelFitRecord(Strict):
    """`fit.two_level` of train.json: how a two-level fit used the cheap labels (trainers/prior_fit.py)."""

    method: str = Field(description="coefficient_prior: the cheap fit c_L as a ridge prior of the expensive fit.")
    prior_strength: float = Field(description="lambda of the shipped fit (the chosen rung's).")
    chosen_by: str = Field(description="How lambda was set: 'auto' (lowest held-out score on the grid), 'auto: "
                           "expensive labels alone ...' (the grid's best did not beat the one-level fit by one standard "
                           "error over the held-out structures: the shipped fit is the one-level ridge), 'auto, "
                           "nothing held out' (1 x the data's curvature: no held-out share to choose on) or 'given'.")
    margin: str | None = Field(None, description="auto: the paired comparison of the grid's best with the one-level "
                               "fit over the held-out structures (prior_fit.beats_by_one_se).")
    grid: list[float] | None = Field(None, description="auto: the lambdas tried (chosen rung).")
    scores: list[float] | None = Field(None, description="auto: held-out score of each (weighted RMS residual).")
    cheap_only_score: float | None = Field(None, description="auto: held-out score of c_L itself (lambda -> inf).")
    expensive_only_score: float | None = Field(None, description="auto: held-out score of the expensive labels alone "
                                               "(lambda -> 0, ridge_alpha).")
    n_cheap_structures: int = Field(description="Cheap-level labels in the prior fit.")
    shift_method: str = Field(description="How the cheap energies were put on the expensive zero: composition_fit "
                              "(least squares over the structures labelled at both) or isolated_atoms.")
    shift_per_element: dict[str, float] = Field(description="The per-element shift added to cheap energies (eV/atom).")
    n_both_levels: int = Field(description="Structures labelled at both levels (the shift's data).")


class FitReport(Strict):
    """`fit` of train.json: the trainer's own report of a fit (components/trainers/*)."""

    trainer: str | None = Field(None, description="The trainer that fitted ('linear_ace', 'pacemaker'; absent: mock).")
    train_energy_rmse_per_atom: float | None = Field(None, description="Energy RMSE per atom on the training labels "
                                                     "(eV/atom).")
    train_force_rmse: float | None = Field(None, description="Force-component RMSE on the training labels (eV/Å).")
    n_structures: int | None = Field(None, description="Structures fitted.")
    n_atoms: int | None = Field(None, description="Atoms fitted.")
    n_functions: int | None = Field(None, description="Basis functions of the shipped potential.")
    n_parameters: int | None = Field(None, description="pacemaker: coefficients of the shipped potential.")
    elements: list[str] | None = Field(None, description="Elements of the fit, sorted.")
    wall_time_s: float | None = Field(None, description="Wall time of the trainer's fit (s).")
    zbl_r_in: dict[str, float] | None = Field(None, description="linear ACE with `repulsion: zbl`: the inner cutoff "
                                              "per bond ('Cu-Cu'), Å (core_repulsion.py).")
    loss_initial: float | None = Field(None, description="pacemaker: loss at the first iteration.")
    loss_final: float | None = Field(None, description="pacemaker: lowest loss reached.")
    n_iterations: int | None = Field(None, description="pacemaker: BFGS iterations.")
    start: str | None = Field(None, description="pacemaker: how the shipped fit started (e.g. 'ladder+refit', "
                              "'kept_previous').")
    pacemaker_time_s: float | None = Field(None, description="pacemaker: its wall time (s).")
    generation: int | None = Field(None, description="mock trainer: fits in the lineage.")
    ladder: LadderRecord | None = Field(None, description="The basis ladder's choice (None: fixed basis).")


class SpotCheckErrors(Strict):
    """The previous potential's errors on the stage's spot-check structures (`prior.spot_check`)."""

    n_structures: int = Field(description="Spot-check structures scored.")
    energy_rmse_per_atom: float | None = Field(None, description="Energy RMSE per atom over those whose energy is a "
                                               "label (eV/atom); None without any.")
    force_rmse: float | None = Field(None, description="Force-component RMSE over trusted components (eV/Å).")
    score: float | None = Field(None, description="The fit's weighted score (scoring/fit_weights.py), eV/Å.")
    n_energy_labels: int | None = Field(None, description="Of them, structures whose energy is a label.")
    force_rmse_by_group: dict[str, float] = Field(default_factory=dict, description="Force RMSE (eV/Å) per kind of "
                                                  "the spot frames (their condition's portfolio kind, else the "
                                                  "condition): what convergence.kind_force_rmse judges.")


class PriorStructure(Strict):
    """One newly labelled structure under the previous potential (`prior.per_structure`)."""

    index: int | None = Field(None, description="Index in the stage's new labels.")
    max_gamma: float | None = Field(None, description="Largest gamma over the atoms whose forces are labels "
                                    "(None without an active set).")
    gamma: list[float] | None = Field(None, description="Per-atom gamma (None without an active set).")
    energy_error_per_atom: float | None = Field(None, description="Predicted minus labelled energy per atom (eV/atom).")
    energy_is_label: bool | None = Field(None, description="Its energy is a label (not a cut-out's).")
    force_rmse: float | None = Field(None, description="Force RMSE over its trusted components (eV/Å).")
    spot_check: bool = Field(False, description="A spot-check structure (labelled to test, not chosen by gamma).")
    condition: str | None = Field(None, description="The exploration condition it came from.")


class PriorErrors(Strict):
    """`prior` of train.json: the previous potential's gamma and errors on this stage's new labels
    (steps/prior_errors.py): the calibration of gamma (report, adaptive gamma) and the spot checks' result."""

    n_structures: int = Field(0, description="New labels scored.")
    per_structure: list[PriorStructure] = Field(default_factory=list, description="One entry per new label.")
    energy_rmse_per_atom: float | None = Field(None, description="Energy RMSE per atom over energy labels (eV/atom).")
    force_rmse: float | None = Field(None, description="Force-component RMSE over trusted components (eV/Å).")
    score: float | None = Field(None, description="The fit's weighted score (scoring/fit_weights.py), eV/Å.")
    spearman_atoms: float | None = Field(None, description="Spearman correlation of per-atom gamma with per-atom "
                                         "force error (None without gamma or too few atoms).")
    spearman_structures: float | None = Field(None, description="The same per structure: max gamma against force RMSE.")
    spot_check: SpotCheckErrors | None = Field(None, description="Errors on the spot-check structures among them.")
    force_rmse_by_group: dict[str, float] = Field(default_factory=dict, description="Force RMSE (eV/Å) per kind of "
                                                  "all of them (the final check's frames are all spot checks).")


class TrainRecord(Strict):
    """`<stage>/train.json`: one training job; read by the state, the report and the plan."""

    stage: str = Field(description="'initial', 'iter_<n>' or 'final_fit' (the fit after the loop).")
    n_structures: int = Field(description="Labelled structures the fit was given.")
    trainer: str = Field(description="trainer.kind that fitted.")
    kept_previous: bool = Field(False, description="True if the fit failed and the previous potential was copied.")
    fit: FitReport | None = Field(None, description="The trainer's own report of the fit (training RMSEs, losses, "
                                  "sizes, the ladder's choice); absent when the fit failed.")
    error: str | None = Field(None, description="Why the fit failed (with kept_previous).")
    wall_time_s: float = Field(0.0, description="Wall time of the fit.")
    validation: RmseMetrics | None = Field(None, description="Errors on the held-out set, when there is one.")
    validation_cheap: RmseMetrics | None = Field(
        None, description="Two-level labelling: errors on the held-out set against the cheap level's labels "
        "(information beside `validation`, which is against the expensive oracle and the one judged).")
    n_cheap_structures: int | None = Field(
        None, description="Two-level labelling: cheap-level labels the fit had (its prior); absent in a one-level run.")
    two_level: TwoLevelFitRecord | None = Field(
        None, description="Two-level labelling: how the fit used the cheap labels (absent in a one-level run and for "
        "the mock trainer).")
    composition: CompositionCheck | None = Field(None, description="The rank check of the training set's "
                                                 "compositions (per-element energies determined or not).")
    prior: PriorErrors | None = Field(None, description="The previous potential's gamma and errors on this stage's "
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
