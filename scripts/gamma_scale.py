"""Snakemake entry point: the final fit's gamma on the loop potential's scale."""
from pathlib import Path

from mlip_autopipec.steps.ship import run_gamma_scale
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_gamma_scale(
        cfg, str(Path(smk.input.potential[0]).parent), str(Path(smk.input.reference[0]).parent),
        [*smk.input.samples, *smk.input.frames], smk.output.scale,
    ),
)
