"""Snakemake entry point: the final/ hand-off (potential, dataset, LAMMPS input, report, README)."""
from mlip_autopipec.steps.final import run_final
from mlip_autopipec.workflow_support import run_step

run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_final(
        smk.input.decision, list(smk.input.potential), list(smk.input.labels), smk.input.reference,
        smk.input.report,
        (cfg.cfg.exploration.gamma_select, cfg.cfg.exploration.gamma_halt, cfg.cfg.exploration.gamma_check_interval),
        {k: smk.output[k] for k in ("yace", "yaml", "asi", "dataset", "dataframe", "lammps", "report", "readme")},
        label_noise_file=smk.input.noise,
    ),
)
