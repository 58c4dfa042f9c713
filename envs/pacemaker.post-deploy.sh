#!/usr/bin/env bash
# Snakemake runs this inside the freshly created envs/pacemaker.yaml environment
# (--software-deployment-method conda). tensorpotential and tf_keras would pull tensorflow[and-cuda]
# through their declared dependencies; tensorflow-cpu (same `tensorflow` package) is already there.
set -euo pipefail
python -m pip install --no-deps "tf_keras==2.20.1" "tensorpotential==0.6.2.1"
python -c "import tensorpotential, tensorflow"
