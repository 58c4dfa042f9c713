"""Snakemake entry point: the final potential's property records into final/."""
from mlip_autopipec.steps.properties import run_final_properties
from mlip_autopipec.workflow_support import run_step

run_step(snakemake, lambda cfg, smk: run_final_properties(smk.input.records, smk.output.records))  # noqa: F821
