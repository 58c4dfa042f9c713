"""Snakemake entry point: the property structures the potential misses most, for the selector."""
from pathlib import Path

from mlip_autopipec.steps.properties import run_property_offer
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_property_offer(
        cfg, str(Path(smk.input.yace).parent), list(smk.input.labels), smk.output.offer,
        list(smk.input.trained),
    ),
)
