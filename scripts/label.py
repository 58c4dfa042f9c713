"""Snakemake entry point: label one chunk of a stage's selected structures with the oracle."""
from mlip_autopipec.steps.label import run_label_chunk
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_label_chunk(
        cfg, smk.wildcards.stage, smk.input.selected, int(smk.wildcards.chunk), int(smk.params.per_job),
        smk.output.labels, smk.output.record, smk.params.cache_dir, cores=smk.threads,
    ),
)
