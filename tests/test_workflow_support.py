"""workflow_support: the Snakefile's config loading checks the user's inputs in the process the user
started, and not again in every cluster job's own Snakemake."""

from types import SimpleNamespace

import pytest
from snakemake.exceptions import WorkflowError

from mlip_autopipec.workflow_support import is_main_process, load_workflow_config


def _missing_structure_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("oracle: {kind: emt}\nstructures: [{kind: file, path: nowhere.xyz}]\n")
    return path, {"oracle": {"kind": "emt"}, "structures": [{"kind": "file", "path": "nowhere.xyz"}]}


def test_the_main_process_runs_the_preflight_checks(tmp_path):
    path, config = _missing_structure_file(tmp_path)
    with pytest.raises(WorkflowError, match="nowhere.xyz"):
        load_workflow_config(config, SimpleNamespace(overwrite_configfiles=[str(path)], is_main_process=True))


def test_a_cluster_jobs_snakemake_skips_them(tmp_path):
    """Inside a SLURM job Snakemake runs in remote mode (`is_main_process` False): the checks passed on
    the login node before the job was submitted."""
    path, config = _missing_structure_file(tmp_path)
    rcfg = load_workflow_config(config, SimpleNamespace(overwrite_configfiles=[str(path)], is_main_process=False))
    assert rcfg.cfg.structures[0].path == "nowhere.xyz"


def test_a_workflow_without_the_attribute_counts_as_the_main_process():
    assert is_main_process(SimpleNamespace()) is True
    assert is_main_process(SimpleNamespace(is_main_process=False)) is False
