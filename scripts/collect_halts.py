"""Snakemake entry point: gather the halt structures of an iteration."""
from mlip_autopipec.sampling.candidate_generator import candidate_limits
from mlip_autopipec.steps.refine import run_collect_halts
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_collect_halts(list(smk.input.records), list(smk.input.frames), smk.output.halt,
                                       candidate_limits(cfg.cfg.candidates)),
)
