# Two commands on a fresh machine:  `make run`  (the default Cu/EMT loop)  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
CORES  ?= 2

.PHONY: setup setup-test run test lint schema

$(BIN)/mlip-runner: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[test]'
	# Byte-compile the package once: the editable install leaves src/ uncompiled, and where
	# PYTHONDONTWRITEBYTECODE is set (as on this project's machines) every Snakemake job recompiled the
	# package's modules at start-up (~0.1 s of each job's ~1.5 s).
	$(BIN)/python -m compileall -q src
	touch $@

setup: $(BIN)/mlip-runner

# What the tests need beyond the package: every tools/install_*.sh (the pacemaker/TensorFlow
# extra, DFT codes, LAMMPS, a SLURM cluster), each idempotent, taking the venv's pip as argument.
$(VENV)/.test-extras: $(BIN)/mlip-runner $(wildcard tools/install_*.sh)
	set -e; for script in tools/install_*.sh; do echo "== $$script"; bash $$script $(BIN)/pip; done
	touch $@

setup-test: setup $(VENV)/.test-extras

run: setup
	$(BIN)/mlip-runner run config/config.yaml --cores $(CORES)

# the SLURM tests run in a second pytest process alongside the rest (tests/run_suite.sh says why)
test: setup-test
	PYTEST=$(BIN)/pytest bash tests/run_suite.sh

lint: setup
	$(BIN)/snakemake --lint

schema: setup
	$(BIN)/mlip-runner schema > config/schema.json
