#!/usr/bin/env bash
# Install the `pacemaker` extra (tensorpotential, the TensorFlow backend of pacemaker) CPU-only.
#
# Why a script and not just `pip install .[pacemaker]`: tensorpotential declares
# `tensorflow[and-cuda]<=2.20` on Linux, which drags ~4 GB of NVIDIA CUDA wheels into the venv, and
# tf_keras declares the full `tensorflow` distribution. Neither can be expressed away in an extras
# list, so we install the CPU wheel (tensorflow-cpu, same `tensorflow` import package) with its own
# dependencies, then tf_keras and tensorpotential with --no-deps, then tensorpotential's remaining
# dependencies explicitly. numpy<2.4 and pandas<3 are kept: tensorpotential fails with numpy 2.4 and
# pacemaker pickles must stay readable by one pandas major version.
#
# Usage: scripts/install_pacemaker_extra.sh [PIP]     (PIP defaults to .venv/bin/pip)
set -euo pipefail

PIP="${1:-.venv/bin/pip}"
if [[ ! -x "$PIP" ]] && ! command -v "$PIP" >/dev/null 2>&1; then
    echo "install_pacemaker_extra: pip executable '$PIP' not found" >&2
    exit 2
fi

# Versions kept in one place. tensorpotential 0.6.x accepts TensorFlow <= 2.20; tf_keras must match
# TensorFlow's minor version (it is the Keras 2 that tensorpotential selects via TF_USE_LEGACY_KERAS=1).
TF_VERSION="2.20.0"
TF_KERAS_VERSION="2.20.1"
TENSORPOTENTIAL_VERSION="0.6.2.1"

# 1. TensorFlow (CPU wheel) and tensorpotential's other runtime dependencies, resolved together.
"$PIP" install \
    "tensorflow-cpu==${TF_VERSION}" \
    "numpy>=1.26,<2.4" \
    "pandas>=2,<3" \
    "scipy" \
    "matscipy" \
    "sympy" \
    "pyyaml>=6.0.2" \
    "tqdm" \
    "requests" \
    "questionary>=2.0" \
    "rich>=13.0" \
    "scikit-learn>=1.1"

# 2. The two packages whose declared dependencies would pull the CUDA / full TensorFlow wheels.
"$PIP" install --no-deps \
    "tf_keras==${TF_KERAS_VERSION}" \
    "tensorpotential==${TENSORPOTENTIAL_VERSION}"

# 3. Smoke check: the import works and numpy/pandas stayed in range. (`pip check` will report that
#    tf_keras and tensorpotential "require tensorflow, which is not installed": expected, the
#    tensorflow-cpu distribution provides the same `tensorflow` package.)
# The python next to the given pip (pip itself has no "print your interpreter" option).
PY="$(dirname "$(command -v "$PIP")")/python"
[[ -x "$PY" ]] || PY="python3"
TF_CPP_MIN_LOG_LEVEL=3 "$PY" - <<'EOF'
import tensorpotential  # noqa: F401  (first: it sets TF_USE_LEGACY_KERAS=1 before TensorFlow loads)
import numpy, pandas
import tensorflow as tf
from packaging.version import Version
assert Version(numpy.__version__) < Version("2.4"), numpy.__version__
assert Version(pandas.__version__) < Version("3"), pandas.__version__
print(f"pacemaker extra OK: tensorflow {tf.__version__}, numpy {numpy.__version__}, pandas {pandas.__version__}")
EOF
