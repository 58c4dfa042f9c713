"""Snakemake entry point: two-level labelling, the cheap oracle on a whole stage's structures (one job)."""
from mlip_autopipec.steps.label import run_label_cheap
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_label_cheap(
        cfg, smk.wildcards.cstage, smk.input.structures, smk.output.labels, smk.output.record,
        smk.params.cache_dir, cores=smk.threads,
    ),
)
