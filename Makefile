# One entry point for people and CI. `make up` runs the whole system, `make test` the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install up test test-unit lint format diagram bench

$(BIN)/asyncml: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/asyncml  ## create .venv and install asyncml with its test tools

up: install  ## run API + workers on this machine (embedded broker and store)
	$(BIN)/asyncml up

test: install  ## the whole suite: unit + integration (real Redis, RabbitMQ, workers, HTTP)
	$(BIN)/pytest

test-unit: install
	$(BIN)/pytest tests/unit

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

diagram: install  ## redraw docs/architecture.png from docs/architecture.py (needs Graphviz `dot`)
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	$(BIN)/python docs/architecture.py

bench: install  ## benchmark both layouts; HARNESS=path/to/asyncbench/bench.py
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py --harness "$(HARNESS)"
