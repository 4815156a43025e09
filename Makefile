# The two commands a newcomer needs:
#   make demo   set up and run the versioning demo on the embedded SQLite default
#   make test   set up everything and run the whole suite (lint, types, tests)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test check lint typecheck pytest bench bench-versions clean postgres-binaries browser

demo: $(VENV)/.core
	$(BIN)/python examples/demo.py

test: check pytest

check: lint typecheck

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(VENV)/.dev
	$(BIN)/mypy

pytest: $(VENV)/.dev postgres-binaries browser
	$(BIN)/python -m pytest

bench: $(VENV)/.bench postgres-binaries
	$(BIN)/python -m bench.run

# What the versions tools cost: boot with frozen versions, the reports, replay-check.
bench-versions: $(VENV)/.dev postgres-binaries
	$(BIN)/python -m bench.versions

# The tests start their own throwaway PostgreSQL server from these binaries.
postgres-binaries:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing PostgreSQL server binaries (apt-get install postgresql)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else \
	    echo "PostgreSQL server binaries are needed: sudo apt-get install -y postgresql"; exit 1; \
	  fi; }

# The web observer's browser tests drive Debian's headless Chromium (never a downloaded
# build). Without root and without Chromium they are skipped, and say how to fix it.
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing headless Chromium for the browser tests (apt-get install chromium)"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } \
	      || echo "could not install Chromium: the browser tests will be skipped"; \
	  else \
	    echo "Chromium is missing, so the browser tests will be skipped: sudo apt-get install -y chromium chromium-driver"; \
	  fi; }

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Continuum needs Python 3.11 or newer: run make PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.core

$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $@ $(VENV)/.dev $(VENV)/.core

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
