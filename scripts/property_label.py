"""Snakemake entry point: the oracle on one chunk of a potential's property structures."""
from mlip_autopipec.steps.properties import run_property_label_chunk
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_property_label_chunk(
        cfg, smk.input.tasks[0] if smk.input.tasks else None, int(smk.wildcards.chunk), smk.output.labels,
        smk.output.record, smk.params.cache_dir, cores=smk.threads,
        equilibrium_file=smk.input.equilibrium[0] if smk.input.equilibrium else None,
    ),
)
