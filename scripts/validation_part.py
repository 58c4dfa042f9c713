"""Snakemake entry point: one portfolio condition's held-out frames."""
from mlip_autopipec.steps.validation import run_validation_part
from mlip_autopipec.workflow_support import run_step

run_step(snakemake, lambda cfg, smk: run_validation_part(cfg, smk.wildcards.cond, smk.output.frames))  # noqa: F821
