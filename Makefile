# Everything a fresh machine needs comes from PyPI and npm through these targets.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast lint stack compile bench clean

setup: $(STAMP) node_modules/.installed

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==25.3
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(PY) scripts/demo.py

test: setup
	$(PY) scripts/ensure_services.py
	$(PY) scripts/ensure_chromium.py
	$(PY) -m pytest -n 2 --dist loadgroup --durations=25 tests

test-fast: setup
	$(PY) -m pytest -x -q -m "not postgres and not anvil" tests

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy ledger_api indexer wallet_cli scripts tests

stack: setup
	$(PY) -m ledger_api.cli init
	$(PY) -m ledger_api.cli stack

compile: setup
	$(PY) scripts/compile_contracts.py

bench: setup
	$(PY) scripts/bench.py all

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
