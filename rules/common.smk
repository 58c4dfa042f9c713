# Config validation, shared constants and the input functions that walk the checkpoint loop.
import os

from snakemake.utils import validate

from mlip_autopipec.core import layout as L
from mlip_autopipec.core.state import refresh_state
from mlip_autopipec.domain_models.state import Action
from mlip_autopipec.plan import n_label_jobs
from mlip_autopipec.workflow_support import load_workflow_config, read_decision, report_failed_slurm_jobs

# pydantic first: its messages name the field and the fix; the JSON schema (generated from the
# same models) is what Snakemake's own tooling sees.
RCFG = load_workflow_config(config, workflow)
validate(config, schema="../config/schema.json", set_default=False)
CONFIG_FILE = os.path.relpath(RCFG.path)
CONDITIONS = [c.name for c in RCFG.cfg.exploration.conditions]
VALIDATION = RCFG.cfg.validation.file is not None or RCFG.cfg.validation.n_generated > 0
RES = RCFG.cfg.resources


def conda_env(kind):
    """Conda env of a component (`--software-deployment-method conda`): envs/<kind>.yaml when that
    backend has one (gpaw, espresso, cp2k, lammps, pacemaker), else envs/mlip.yaml. Relative to rules/."""
    own = os.path.join(workflow.basedir, "envs", f"{kind}.yaml")
    return f"../envs/{kind}.yaml" if os.path.isfile(own) else "../envs/mlip.yaml"


ORACLE_ENV = conda_env(RCFG.cfg.oracle.kind)


wildcard_constraints:
    it=L.ITER_REGEX,
    stage=L.STAGE_REGEX,
    cond=r"[A-Za-z0-9_-]+",
    outcome="converged|stopped",
    chunk=r"\d+",


def iteration(wildcards):
    return int(wildcards.it)


def previous_potential(wildcards):
    prev = L.previous_stage(wildcards.stage)
    return [] if prev is None else [f"{prev}/potential.yace"]


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
    return walk_decisions()[1].action.flag_file


onstart:
    refresh_state(".", event="start")


onsuccess:
    refresh_state(".", event="success")


onerror:
    refresh_state(".", event="error")
    report_failed_slurm_jobs(log)
