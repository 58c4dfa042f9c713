"""Snakemake entry point: fit the potential of a stage on all labels so far."""
from pathlib import Path

from mlip_autopipec.steps.train import run_train
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_train(
        cfg, smk.wildcards.stage, list(smk.input.labels), smk.input.reference,
        str(Path(smk.output.yace).parent),
        str(Path(smk.input.previous[0]).parent) if smk.input.previous else None,
        smk.input.validation[0] if smk.input.validation else None,
        smk.output.record, cheap_files=list(smk.input.cheap),
        cheap_validation_file=smk.input.cheap_validation[0] if smk.input.cheap_validation else None,
        cheap_reference_file=smk.input.cheap_reference[0] if smk.input.cheap_reference else None,
    ),
)
