"""Snakemake entry point: the local swarm of candidates around the halt structures."""
from pathlib import Path

from mlip_autopipec.steps.refine import run_candidates
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_candidates(
        cfg, int(smk.wildcards.it), smk.input.halt, list(smk.input.frames),
        str(Path(smk.input.potential[0]).parent), smk.output.candidates, list(smk.input.get("offer", [])),
        smk.input.decision, list(smk.input.samples),
    ),
)
