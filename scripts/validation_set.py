"""Snakemake entry point: the held-out validation set."""
from mlip_autopipec.steps.validation import run_validation_set
from mlip_autopipec.workflow_support import run_step

run_step(snakemake, lambda cfg, smk: run_validation_set(cfg, smk.output.frames, list(smk.input.parts)))  # noqa: F821
