"""Snakemake entry point: the final/ hand-off (potential, dataset, LAMMPS input, report, README)."""
from mlip_autopipec.core.io import read_json
from mlip_autopipec.steps.final import run_final
from mlip_autopipec.workflow_support import run_step


def gamma_settings(cfg, smk):
    """The LAMMPS input's thresholds: the loop's, or those calibrated for a shipped final fit's basis."""
    exp = cfg.cfg.exploration
    scale = read_json(smk.input.scale[0])["scale"] if smk.input.scale else 1.0
    return exp.gamma_select * scale, exp.gamma_halt * scale, exp.gamma_check_interval


run_step(
    snakemake,  # noqa: F821
    lambda cfg, smk: run_final(
        smk.input.decision, list(smk.input.potential), list(smk.input.labels), smk.input.reference,
        smk.input.report, gamma_settings(cfg, smk),
        {k: smk.output[k] for k in ("yace", "yaml", "asi", "dataset", "dataframe", "lammps", "report", "readme")},
        workdir=".", properties_file=smk.input.properties[0] if smk.input.properties else None,
        label_noise_file=smk.input.noise,
    ),
)
