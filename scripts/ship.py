"""Snakemake entry point: the ship checkpoint (which potential final/ ships)."""
from pathlib import Path

from mlip_autopipec.steps.ship import run_ship
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_ship(
        cfg, str(Path(smk.input.loop[0]).parent), str(Path(smk.input.potential[0]).parent), smk.input.record,
        smk.input.labels[0] if smk.input.labels else None, smk.input.md[0] if smk.input.md else None,
        smk.input.scale, smk.output.decision,
        loop_record=next((f for f in smk.input.loop if f.endswith("train.json")), None),
    ),
)
