"""Snakemake entry point: fresh spot-check frames for the check of the potential to ship."""
from mlip_autopipec.steps.ship import run_final_check_frames
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_final_check_frames(cfg, list(smk.input.samples), smk.output.selected),
)
