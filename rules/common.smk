# Config validation, shared constants and the input functions that walk the checkpoint loop.
import os

from snakemake.utils import validate

from mlip_autopipec.loop import extension as X
from mlip_autopipec.core import layout as L
from mlip_autopipec.loop.state import refresh_state
from mlip_autopipec.domain_models.state import Action
from mlip_autopipec.plan import cheap_label_stages, cheap_validation, n_label_jobs
from mlip_autopipec.domain_models.state import read_decision
from mlip_autopipec.domain_models.ship import read_ship
from mlip_autopipec.domain_models.portfolio_config import portfolio_conditions
from mlip_autopipec.workflow_support import load_workflow_config, report_failed_slurm_jobs
from mlip_autopipec.components.registry import measures_label_noise

# pydantic first: its messages name the field and the fix; the JSON schema (generated from the
# same models) is what Snakemake's own tooling sees.
RCFG = load_workflow_config(config, workflow)
validate(config, schema="../config/schema.json", set_default=False)
CONFIG_FILE = os.path.relpath(RCFG.path)
CONDITIONS = [c.name for c in RCFG.cfg.exploration.conditions]
VALIDATION = RCFG.cfg.has_validation()
VALIDATION_PARTS = portfolio_conditions(RCFG.cfg)  # one held-out job per portfolio condition
RES = RCFG.cfg.resources
# The noise check labels (label resources) only when it measures; else it writes a one-line record
NOISE_RES = RES.label if measures_label_noise(RCFG.cfg) else RES.light
# The initial structures at the oracle's lattice constants: that job labels a few small cells first
ORACLE_LATTICE = bool(RCFG.cfg.initial_data.oracle_lattice)
INITIAL_RES = RES.label if ORACLE_LATTICE else RES.light
# Files the config names: inputs of every rule that reads them, so an edited file redoes its work.
STRUCTURE_FILES = [str(RCFG.resolve(s.path)) for s in RCFG.cfg.structures if s.kind == "file"]
VALIDATION_INPUT = [str(RCFG.resolve(RCFG.cfg.validation.file))] if RCFG.cfg.validation.file else []

# Extending a finished run: when the loop's last decision no longer holds under this config, its
# files are moved aside and Snakemake redoes them (a dry run moves nothing and only says so).
EXTENSION = X.find_extension(".", RCFG.cfg) if workflow.is_main_process else None
if EXTENSION is not None:
    if getattr(workflow.output_settings, "dryrun", False):
        print(f"mlip-autopipec: a run would extend iteration {EXTENSION.iteration}: "
              f"{'; '.join(EXTENSION.changes)} (redoes {', '.join(EXTENSION.files_to_redo())})")
    else:
        X.supersede(".", EXTENSION)


def conda_env(kind):
    """Conda env of a component (`--software-deployment-method conda`): envs/<kind>.yaml when that
    backend has one (gpaw, espresso, cp2k, lammps, pacemaker), else envs/mlip.yaml. Relative to rules/."""
    own = os.path.join(workflow.basedir, "envs", f"{kind}.yaml")
    return f"../envs/{kind}.yaml" if os.path.isfile(own) else "../envs/mlip.yaml"


ORACLE_ENV = conda_env(RCFG.cfg.oracle.kind)
# two-level labelling (cheap_oracle): the cheap level's environment, and whether selection reads its labels
CHEAP_ORACLE_ENV = conda_env(RCFG.cfg.cheap_oracle.kind) if RCFG.cfg.two_level_on() else ORACLE_ENV
DISAGREEMENT = RCFG.cfg.cheap_labels("candidates") and RCFG.cfg.two_level.disagreement_share > 0


wildcard_constraints:
    it=L.ITER_REGEX,
    stage=L.LABEL_STAGE_REGEX,
    cond=r"[A-Za-z0-9_-]+",
    outcome="converged|stopped",
    chunk=r"\d+",


def iteration(wildcards):
    return int(wildcards.it)


def potential_files(stage):
    """All three files of a potential: .yace to run it, .yaml and .asi for gamma and selection."""
    return [L.potential(stage, ext) for ext in L.POTENTIAL_SUFFIXES]


# linear ACE with a ladder carries its design rows from fit to fit (trainers/design_rows.py)
DESIGN_ROWS = [L.design_rows("{stage}")] if (RCFG.cfg.trainer.kind == "linear_ace"
                                             and RCFG.cfg.trainer.ladder is not None) else []


def fit_files(stage):
    """What the next fit reads of a fitted stage: its potential, its record (keep-the-best compares
    with it) and its design rows."""
    return potential_files(stage) + [L.train_record(stage)] + [p.format(stage=stage) for p in DESIGN_ROWS]


def previous_potential(wildcards):
    prev = L.previous_stage(wildcards.stage)
    return [] if prev is None else fit_files(prev)


def exploring_potential(wildcards):
    return potential_files(L.potential_stage_for(iteration(wildcards)))


def conditions_of(n):
    """Conditions of iteration n: those its decision was made with once it continued the loop
    (a condition added later starts in a new iteration), else the configured ones."""
    path = L.decision(n)
    if os.path.isfile(path):
        decision = read_decision(path)
        if decision.action is Action.CONTINUE:
            return [c.condition for c in decision.conditions]
    return CONDITIONS


def explore_records(wildcards):
    n = iteration(wildcards)
    return [L.explore_record(n, c) for c in conditions_of(n)]


def explore_frames(wildcards):
    n = iteration(wildcards)
    return [L.explore_frames(n, c) for c in conditions_of(n)]


def calibration_records(wildcards):
    """With exploration.adaptive_gamma on: the fits' records whose prior errors set iteration n's
    gamma thresholds (steps/explore.gamma_thresholds); none when it is off."""
    if not RCFG.cfg.exploration.adaptive_gamma.enabled:
        return []
    return [L.train_record(L.iter_dir(k)) for k in range(iteration(wildcards))]


def superseded_decision(wildcards):
    """The decision a rerun replaces when a finished run is extended (read for the note it leaves)."""
    path = X.superseded_decision(iteration(wildcards))
    return [path] if os.path.isfile(path) else []


def cheap_label_files(stage):
    """Two-level labelling: the cheap labels the fit of `stage` uses as its prior ([] in a one-level run)."""
    return [L.cheap_labels(s) for s in cheap_label_stages(RCFG.cfg, stage)]


def cheap_validation_files():
    """The cheap level's labels of the held-out set (scored beside the expensive ones, as information)."""
    return [L.cheap_labels(L.VALIDATION_DIR)] if cheap_validation(RCFG.cfg) else []


def label_chunks(stage):
    """Label jobs of a stage: fixed slots sized by the most structures the stage can hold, so no
    extra checkpoint is needed (surplus slots label nothing); counted by the plan's n_label_jobs."""
    return range(n_label_jobs(RCFG.cfg, stage))


def walk_decisions():
    """Decision files of iterations 0, 1, ... up to the first that does not continue.

    Each `checkpoints.gate.get` either returns a finished checkpoint or suspends the DAG until that
    iteration's exploration has run; this is what spawns iteration n+1.
    """
    n = 0
    while True:
        path = checkpoints.gate.get(it=L.it_str(n)).output.decision
        decision = read_decision(path)
        if decision.action is not Action.CONTINUE:
            return path, decision
        n += 1


def final_target(wildcards):
    return L.flag(walk_decisions()[1].action.ends_converged)


FINAL_FIT = RCFG.cfg.has_final_fit()
SPOT_CHECKS = RCFG.cfg.convergence.spot_checks > 0


def last_loop_stage():
    """The potential the final iteration explored with: the loop's last good potential."""
    return L.potential_stage_for(walk_decisions()[1].iteration)


def final_stage():
    """The shipped potential's stage: with a final fit (trainer.ladder.final_rungs) what the `ship`
    checkpoint decided (final_fit/ if it passed the end criteria, else the loop's), else the loop's last."""
    if not FINAL_FIT:
        return last_loop_stage()
    return read_ship(checkpoints.ship.get().output.decision).shipped_stage


def last_exploration(kind):
    """The last iteration's exploration files: "samples" (evenly spread) or "frames" (extrapolative)."""
    n = walk_decisions()[1].iteration
    of = L.explore_samples if kind == "samples" else L.explore_frames
    return [of(n, c) for c in conditions_of(n)]


def final_potential(wildcards):
    return potential_files(final_stage())


def final_labels(wildcards):
    return [L.labels(s) for s in L.stages_up_to(last_loop_stage())]


def final_cheap_labels(wildcards):
    return cheap_label_files(last_loop_stage())


def final_fit_previous(wildcards):
    """The final fit starts from the loop's last potential."""
    return fit_files(last_loop_stage())


onstart:
    refresh_state(".", event="start")


onsuccess:
    refresh_state(".", event="success")


onerror:
    refresh_state(".", event="error")
    report_failed_slurm_jobs(log)
