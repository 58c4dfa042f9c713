"""Snakemake entry point: the property structures and the potential's results on them."""
from mlip_autopipec.steps.properties import run_property_tasks
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_property_tasks(cfg, smk.wildcards.stage, smk.output.tasks, smk.output.potential),
)
