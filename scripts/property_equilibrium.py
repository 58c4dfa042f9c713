"""Snakemake entry point: the oracle's equilibrium (relaxed bulk crystal) the oracle's property tasks start from."""
from mlip_autopipec.steps.properties import run_property_equilibrium
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_property_equilibrium(
        cfg, smk.output.structure, smk.output.record, smk.params.cache_dir, cores=smk.threads,
    ),
)
