"""Snakemake entry point: write converged.flag or stopped.flag."""
from mlip_autopipec.steps.finalize import run_finalize
from mlip_autopipec.workflow_support import run_step

run_step(snakemake, lambda cfg, smk: run_finalize(smk.input.decision, smk.output.flag))  # noqa: F821
