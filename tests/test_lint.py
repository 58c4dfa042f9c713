"""The workflow passes Snakemake's own linter (rules have logs, benchmarks, conda envs; no
functions mixed into rule files)."""

from conftest import CONFIGS, REPO, run, snakemake_cmd


def test_snakemake_lint_passes_on_default_config():
    proc = run(snakemake_cmd("--lint"), cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "good condition" in proc.stdout + proc.stderr


def test_snakemake_lint_passes_on_mock_config(tmp_path):
    proc = run(snakemake_cmd("--lint", "--snakefile", REPO / "Snakefile", "--configfile", CONFIGS / "mock.yaml"),
               cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
