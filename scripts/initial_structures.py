"""Snakemake entry point: starting structures -> initial/selected.xyz (and the oracle's lattice constants
they are built at -> initial/lattice.json)."""
from mlip_autopipec.steps.initial import run_initial_structures
from mlip_autopipec.workflow_support import run_step

run_step(snakemake, lambda cfg, smk: run_initial_structures(cfg, smk.output.selected, smk.output.lattice,
                                                                    smk.threads))  # noqa: F821
