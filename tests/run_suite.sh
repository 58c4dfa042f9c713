#!/usr/bin/env bash
# The whole test suite, as `make test` runs it: the SLURM tests (marker `slurm`) in a second pytest
# process alongside the rest. They spend most of their ~5 minutes waiting on the scheduler (job
# start-up, status polling) while their jobs use little CPU, so overlapping them with the CPU-bound
# rest saves that wait on a 2-core machine. Each process has its own basetemp; the exit code is
# non-zero if either failed. Extra arguments go to both pytest runs.
# The rest runs on two pytest-xdist workers: most tests drive one Python process at a time (Snakemake
# start-up, single-threaded MD and fits, subprocess waits), so two at once use the 2 cores better.
# Work units are whole modules (those sharing a session run together), handed out in collection
# order (tests/conftest.py: work_unit, pytest_xdist_make_scheduler, pytest_collection_modifyitems).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST="${PYTEST:-.venv/bin/pytest}"
TMP="${TMPDIR:-/tmp}/mlip-autopipec-tests-$$"
mkdir -p "$TMP"

"$PYTEST" -m slurm -p no:cacheprovider --basetemp="$TMP/slurm" "$@" > "$TMP/slurm.log" 2>&1 &
slurm_pid=$!
"$PYTEST" -m "not slurm" -n "${XDIST_WORKERS:-2}" \
    --basetemp="$TMP/main" --durations=25 "$@"
rc_main=$?
wait "$slurm_pid"
rc_slurm=$?
echo "==================== SLURM tests (run alongside) ===================="
cat "$TMP/slurm.log"
echo "exit codes: main $rc_main, slurm $rc_slurm"
[[ $rc_main -eq 0 || $rc_main -eq 5 ]] && [[ $rc_slurm -eq 0 || $rc_slurm -eq 5 ]]
