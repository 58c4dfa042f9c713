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
	touch $@

setup: $(BIN)/mlip-runner

# The tests also exercise the optional pacemaker trainer (TensorFlow, CPU build).
$(VENV)/.pacemaker-extra: $(BIN)/mlip-runner scripts/install_pacemaker_extra.sh
	bash scripts/install_pacemaker_extra.sh $(BIN)/pip
	touch $@

setup-test: setup $(VENV)/.pacemaker-extra

run: setup
	$(BIN)/mlip-runner run config/config.yaml --cores $(CORES)

test: setup-test
	$(BIN)/pytest

lint: setup
	$(BIN)/snakemake --lint

schema: setup
	$(BIN)/mlip-runner schema > config/schema.json
