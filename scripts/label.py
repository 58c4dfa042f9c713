"""Snakemake entry point: label the selected structures of a stage with the oracle."""
from mlip_autopipec.steps.label import run_label
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_label(
        cfg, smk.wildcards.stage, smk.input.selected, smk.output.labels, smk.output.failed,
        smk.params.cache_dir, smk.log[0],
    ),
)
