#!/usr/bin/env bash
# Install the universal-potential oracles (`oracle.kind: chgnet`) into the MAIN venv, on a CPU build
# of PyTorch.
#
# Why the main venv and not a separate one like the pacemaker extra: CHGNet runs in-process in the
# label jobs (one model load per job, batched forward passes); measured 2026-12-06, CPU torch 2.13.0 +
# chgnet 0.4.2 + pymatgen add ~1.0 GB to the main venv (1.1 -> 2.1 GB) and upgrade none of its packages
# (pip --dry-run: numpy 2.4.6 and pandas 3.1.1 stay), while a separate venv would be 1.5 GB and need a
# subprocess per label job.
#
# Why a script and not a dependency in pyproject.toml: `chgnet` declares `torch>=2.4.1`; with no torch
# installed pip takes a CUDA build (~5.9 GB with its NVIDIA libraries). torch==2.13.0 is the CPU build
# this machine kind keeps on disk (/work/.library/env/machines/python.md), so it is pinned in the SAME
# pip command as chgnet: the resolver can then pick no other torch.
#
# Idempotent (a no-op when the pinned versions are there). Usage: tools/install_universal.sh [PIP]
set -euo pipefail

PIP="${1:-.venv/bin/pip}"
if [[ ! -x "$PIP" ]] && ! command -v "$PIP" >/dev/null 2>&1; then
    echo "install_universal: pip executable '$PIP' not found" >&2
    exit 2
fi
PYTHON="$(dirname "$(command -v "$PIP")")/python"

TORCH_VERSION="2.13.0"
CHGNET_VERSION="0.4.2"

if "$PYTHON" - "$TORCH_VERSION" "$CHGNET_VERSION" <<'PYEOF' 2>/dev/null; then
import sys
from importlib.metadata import version
ok = version("torch").split("+")[0] == sys.argv[1] and version("chgnet") == sys.argv[2]
sys.exit(0 if ok else 1)
PYEOF
    echo "universal potentials: torch ${TORCH_VERSION}, chgnet ${CHGNET_VERSION} already installed"
    exit 0
fi

"$PIP" install --quiet "torch==${TORCH_VERSION}" "chgnet==${CHGNET_VERSION}"

# Smoke check: a CPU torch (no CUDA libraries pulled in), CHGNet's shipped weights load offline.
"$PYTHON" - <<'PYEOF'
import torch
from chgnet.model import CHGNet
assert torch.version.cuda is None, f"a CUDA build of torch was installed ({torch.__version__})"
model = CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)
print(f"universal potentials OK: torch {torch.__version__} (CPU), CHGNet {model.version}")
PYEOF
