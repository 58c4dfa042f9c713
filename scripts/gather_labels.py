"""Snakemake entry point: gather a stage's label chunks into labels.extxyz (+ failures)."""
from mlip_autopipec.steps.label import run_gather_labels
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_gather_labels(
        smk.wildcards.stage, list(smk.input.labels), list(smk.input.records), smk.output.labels, smk.output.failed
    ),
)
