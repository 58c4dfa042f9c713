"""Snakemake entry point: two-level labelling, the cheap oracle's isolated-atom reference energies."""
from mlip_autopipec.steps.initial import run_reference_energies
from mlip_autopipec.workflow_support import run_step

run_step(snakemake, lambda cfg, smk: run_reference_energies(cfg, smk.output.energies, level="cheap"))  # noqa: F821
