#!/usr/bin/env bash
# Install a one-node SLURM (Debian's slurmctld, slurmd, slurm-client) and munge, for the tests that
# run the workflow through `--profile profiles/slurm` (tests/test_slurm.py).
#
# Only packages are installed here: the test fixture (tests/slurm_cluster.py) writes
# /etc/slurm/slurm.conf with a scratch state directory, starts munged/slurmctld/slurmd itself and
# stops them by their pid files. Nothing is started at boot (there is no systemd on CI machines).
#
# Idempotent: does nothing when the binaries are already there. Needs root (apt-get).
# Usage: tools/install_slurm.sh [PIP]     (PIP is accepted for symmetry with the other installers
#                                          and unused: snakemake-executor-plugin-slurm comes with
#                                          the package's own dependencies)
set -euo pipefail

need=()
for bin in slurmctld slurmd sbatch munged; do
    command -v "$bin" >/dev/null 2>&1 || [[ -x "/usr/sbin/$bin" ]] || need+=("$bin")
done
if ((${#need[@]} == 0)); then
    echo "install_slurm: slurmctld, slurmd, sbatch and munged already installed"
    exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
    echo "install_slurm: missing ${need[*]}; run as root (apt-get install slurmctld slurmd slurm-client munge)" >&2
    exit 2
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends keeps it to the daemons and the client tools (~13 s on CI).
apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
# The munge package creates /etc/munge/munge.key in its postinst; make sure one exists anyway.
if [[ ! -s /etc/munge/munge.key ]]; then
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --force
    else
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
echo "install_slurm: $(slurmctld -V) and munge installed"
