# One entry point for people and CI. `make up` runs the whole system, `make test` the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Stamp of the test and lint tools (the dev extras), installed over the runtime by the
# targets that need them: `make up` installs what running asyncml needs and nothing more.
DEV := $(VENV)/.dev-installed

.PHONY: install install-dev up test test-unit cluster-test lint format diagram bench

$(BIN)/asyncml: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV): $(BIN)/asyncml pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/asyncml  ## create .venv and install asyncml (runtime dependencies only)

install-dev: $(DEV)  ## add the test and lint tools (pytest, ruff, mypy, …)

up: install  ## run API + workers on this machine (embedded broker and store)
	$(BIN)/asyncml up

test: install-dev  ## the whole suite: unit + integration (real Redis, RabbitMQ, workers, HTTP)
	$(BIN)/pytest -n 2 --dist loadfile

test-unit: install-dev
	$(BIN)/pytest tests/unit

cluster-test: install-dev  ## as root: hosts in network namespaces, every fault, both brokers (docs/reliability.md)
	$(BIN)/python -m tests.cluster run --jobs $(or $(JOBS),400) --out cluster-results.json

lint: install-dev
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

diagram: install  ## redraw docs/architecture.png from docs/architecture.py (needs Graphviz `dot`)
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	$(BIN)/python docs/architecture.py

bench: install  ## benchmark both layouts; HARNESS=path/to/asyncbench/bench.py
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py --harness "$(HARNESS)"
