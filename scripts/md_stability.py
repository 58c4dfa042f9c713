"""Snakemake entry point: the MD stability run of a potential."""
from mlip_autopipec.steps.properties import run_md_stability_step
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_md_stability_step(cfg, smk.wildcards.stage, smk.output.result,
                                           smk.input.scale[0] if smk.input.scale else None),
)
