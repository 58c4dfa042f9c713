"""Snakemake entry point: the noise floor of the labels, before any label is spent."""
from mlip_autopipec.steps.label_noise import run_label_noise
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_label_noise(cfg, smk.input.selected, smk.output.record, smk.params.stage_cache,
                                     smk.params.noise_dir, cores=smk.threads),
)
