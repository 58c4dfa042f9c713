"""Snakemake entry point: one exploration condition of one iteration."""
from pathlib import Path

from mlip_autopipec.steps.explore import run_explore
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_explore(
        cfg, int(smk.wildcards.it), smk.wildcards.cond, str(Path(smk.input.potential[0]).parent),
        smk.output.record, smk.output.frames, smk.output.samples, list(smk.input.calibration),
    ),
)
