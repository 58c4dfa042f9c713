"""Which interpreter runs pacemaker: the separate environment of the `pacemaker` trainer.

Why a separate interpreter: tensorpotential (pacemaker's TensorFlow backend) needs numpy<2.4 and
pandas<3, while the main environment must be free to move on (the SLURM executor plugin >= 2.8
needs numpy >= 2.4.5). tools/install_pacemaker_extra.sh builds that environment as a venv beside
the main one (`.venv-pacemaker`). The main process never imports TensorFlow: it hands the data
over as extended XYZ and runs `pacemaker_driver.py` with that interpreter.

Search order: `trainer.python`, else $MLIP_PACEMAKER_PYTHON (an interpreter), else
$MLIP_PACEMAKER_VENV/bin/python -- each of these, when given, must work (no silent fallback) --
else the first existing of .venv-pacemaker beside the running environment (sys.prefix) and
.venv-pacemaker in the source checkout, else the running interpreter itself if it has
tensorpotential (an all-in-one environment, e.g. Snakemake's conda env envs/pacemaker.yaml).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ...core.errors import UserError

VENV_NAME = ".venv-pacemaker"
ENV_PYTHON = "MLIP_PACEMAKER_PYTHON"
ENV_VENV = "MLIP_PACEMAKER_VENV"
REQUIRED_MODULES = ("tensorpotential", "tensorflow", "pyace", "pandas", "ase", "yaml")
_REPO = Path(__file__).resolve().parents[4]  # source checkout (src/mlip_autopipec/components/trainers)
INSTALL_SCRIPT = _REPO / "tools" / "install_pacemaker_extra.sh"

# finds the modules without importing them (importing TensorFlow takes seconds)
_PROBE = ("import importlib.util as u, sys; "
          f"missing = [m for m in {REQUIRED_MODULES!r} if u.find_spec(m) is None]; "
          "print(' '.join(missing)); sys.exit(1 if missing else 0)")


def install_hint() -> str:
    """The command that builds the pacemaker environment beside the running one."""
    pip = Path(sys.prefix) / "bin" / "pip"
    script = INSTALL_SCRIPT if INSTALL_SCRIPT.is_file() else Path("tools/install_pacemaker_extra.sh")
    return f"bash {script} {pip}"


def clean_env() -> dict:
    """This process's environment without PYTHONPATH/PYTHONHOME: the pacemaker interpreter must see
    its own packages, not the main environment's numpy/pandas."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def missing_modules(python: Path) -> list[str]:
    """Modules of REQUIRED_MODULES that `python` cannot find ([] = usable); ['<not runnable>'] if
    the interpreter does not start."""
    try:
        proc = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, env=clean_env())
    except (OSError, subprocess.TimeoutExpired):
        return ["<not runnable>"]
    if proc.returncode not in (0, 1):
        return ["<not runnable>"]
    return proc.stdout.split()


def _candidates() -> list[tuple[str, Path]]:
    """(where it came from, interpreter path) of the automatic places, in search order."""
    return [("beside the running environment", Path(sys.prefix).parent / VENV_NAME / "bin" / "python"),
            ("in the source checkout", _REPO / VENV_NAME / "bin" / "python")]


def _explicit(python: str) -> Path:
    path = Path(os.path.expandvars(python)).expanduser()
    if path.is_absolute():
        return path
    found = shutil.which(python)
    if found is None:
        raise UserError(f"trainer.python: {python!r} is not an absolute path and not a command on PATH; "
                        f"give the pacemaker environment's interpreter (built by: {install_hint()})")
    return Path(found)


def _usable(origin: str, python: Path) -> Path:
    missing = missing_modules(python)
    if missing:
        raise UserError(
            f"trainer 'pacemaker': the interpreter {python} ({origin}) lacks {', '.join(missing)}. "
            f"Build the pacemaker environment with: {install_hint()}  -- or set "
            f"`trainer: {{kind: linear_ace}}`.")
    return python


@functools.lru_cache(maxsize=None)
def _find(python: str | None, env_python: str | None, env_venv: str | None) -> Path:
    # given explicitly (config, then environment variables): must work, no silent fallback
    if python:
        return _usable("trainer.python", _explicit(python))
    if env_python:
        return _usable(f"${ENV_PYTHON}", Path(env_python).expanduser())
    if env_venv:
        return _usable(f"${ENV_VENV}", Path(env_venv).expanduser() / "bin" / "python")
    for origin, path in _candidates():
        if path.exists():
            return _usable(origin, path)
    if not missing_modules(Path(sys.executable)):
        return Path(sys.executable)
    raise UserError(
        f"trainer 'pacemaker' needs its own environment (TensorFlow, tensorpotential, python-ace), "
        f"which was not found (looked at ${ENV_PYTHON}, ${ENV_VENV}, "
        f"{Path(sys.prefix).parent / VENV_NAME}, {_REPO / VENV_NAME}, and for tensorpotential in "
        f"{sys.executable}). Build it with: {install_hint()}  (CPU-only TensorFlow, ~1.5 GB), or set "
        f"`trainer.python` to its interpreter, or use `trainer: {{kind: linear_ace}}`.")


def pacemaker_python(python: str | None = None) -> Path:
    """The interpreter that runs pacemaker (`python` = config's trainer.python, None = search);
    UserError naming tools/install_pacemaker_extra.sh if there is none or it lacks a module."""
    return _find(python, os.environ.get(ENV_PYTHON), os.environ.get(ENV_VENV))
