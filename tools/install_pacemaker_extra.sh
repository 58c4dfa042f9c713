#!/usr/bin/env bash
# Build the separate environment of the `pacemaker` trainer (tensorpotential, pacemaker's TensorFlow
# backend), CPU-only.
#
# Why a separate venv: tensorpotential needs numpy<2.4 and pandas<3, while the main environment
# (snakemake-executor-plugin-slurm >= 2.8 needs numpy >= 2.4.5) must not be held back by an optional
# trainer. The pacemaker trainer already fits in a subprocess; it runs that subprocess with this
# environment's interpreter (`trainer.python`, found automatically at <main venv>/../.venv-pacemaker).
#
# Why a script and not `pip install tensorpotential`: tensorpotential declares
# `tensorflow[and-cuda]<=2.20` on Linux (~4 GB of NVIDIA CUDA wheels) and tf_keras declares the full
# `tensorflow` distribution. We install the CPU wheel (tensorflow-cpu, same `tensorflow` import package)
# with its own dependencies, then tf_keras and tensorpotential with --no-deps.
#
# Idempotent. Usage: tools/install_pacemaker_extra.sh [PIP]   (PIP of the MAIN venv, default .venv/bin/pip;
# the pacemaker venv is created beside it as .venv-pacemaker, or at $MLIP_PACEMAKER_VENV)
set -euo pipefail

PIP="${1:-.venv/bin/pip}"
if [[ ! -x "$PIP" ]] && ! command -v "$PIP" >/dev/null 2>&1; then
    echo "install_pacemaker_extra: pip executable '$PIP' not found" >&2
    exit 2
fi
MAIN_VENV="$(cd "$(dirname "$(command -v "$PIP")")/.." && pwd)"
PM_VENV="${MLIP_PACEMAKER_VENV:-$(dirname "$MAIN_VENV")/.venv-pacemaker}"
BASE_PYTHON="${PYTHON:-python3}"

# Versions kept in one place. tensorpotential 0.6.x accepts TensorFlow <= 2.20; tf_keras must match
# TensorFlow's minor version (it is the Keras 2 that tensorpotential selects via TF_USE_LEGACY_KERAS=1).
TF_VERSION="2.20.0"
TF_KERAS_VERSION="2.20.1"
TENSORPOTENTIAL_VERSION="0.6.2.1"
PYACE_VERSION="0.4.0rc1"

[[ -x "$PM_VENV/bin/python" ]] || "$BASE_PYTHON" -m venv "$PM_VENV"
PM_PIP="$PM_VENV/bin/pip"
"$PM_PIP" install --quiet --upgrade pip

# 1. TensorFlow (CPU wheel), python-ace and tensorpotential's other runtime dependencies, together.
#    numpy<2.4 / pandas<3: tensorpotential fails with numpy 2.4 (fitmetrics TypeError) and pandas 3.
"$PM_PIP" install \
    "tensorflow-cpu==${TF_VERSION}" \
    "python-ace==${PYACE_VERSION}" \
    "numpy>=1.26,<2.4" \
    "pandas>=2,<3" \
    "ase>=3.23" \
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
"$PM_PIP" install --no-deps \
    "tf_keras==${TF_KERAS_VERSION}" \
    "tensorpotential==${TENSORPOTENTIAL_VERSION}"

# 3. Smoke check in the pacemaker venv.
TF_CPP_MIN_LOG_LEVEL=3 "$PM_VENV/bin/python" - <<'PYEOF'
import tensorpotential  # noqa: F401  (first: it sets TF_USE_LEGACY_KERAS=1 before TensorFlow loads)
import numpy, pandas, pyace
import tensorflow as tf
print(f"pacemaker venv OK: tensorflow {tf.__version__}, numpy {numpy.__version__}, pandas {pandas.__version__}")
PYEOF
echo "pacemaker interpreter: $PM_VENV/bin/python"
