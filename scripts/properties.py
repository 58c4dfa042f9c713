"""Snakemake entry point: potential against oracle, one record per property."""
from mlip_autopipec.steps.properties import run_properties
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_properties(
        cfg, smk.wildcards.stage, smk.input.potential, list(smk.input.labels), list(smk.input.records),
        smk.input.md[0] if smk.input.md else None, smk.output.records, smk.output.details,
        tuple(smk.input.equilibrium) or None,
    ),
)
