"""Snakemake entry point: figures and the self-contained HTML report of the finished run."""
from mlip_autopipec.report.build import build_report
from mlip_autopipec.workflow_support import run_step

run_step(snakemake, lambda cfg, smk: build_report(".", cfg, out_html=smk.output.html))  # noqa: F821
