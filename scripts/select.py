"""Snakemake entry point: choose the candidates to label."""
from pathlib import Path

from mlip_autopipec.steps.refine import run_select
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_select(
        cfg, int(smk.wildcards.it), smk.input.candidates, str(Path(smk.input.potential[0]).parent),
        smk.output.selected, cheap_file=smk.input.cheap[0] if smk.input.cheap else None,
        train_record_file=smk.input.train_record[0] if smk.input.train_record else None,
    ),
)
