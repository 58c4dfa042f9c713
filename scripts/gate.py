"""Snakemake entry point: the checkpoint decision of one iteration."""
from mlip_autopipec.steps.gate import run_gate
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_gate(
        cfg, int(smk.wildcards.it), list(smk.input.records), list(smk.input.previous), smk.output.decision,
        smk.input.superseded[0] if smk.input.superseded else None,
        list(smk.input.get("properties", [])),
        (list(smk.input.previous_train) or [None])[0],
    ),
)
