# Mardonar developer tasks (GNU make).
#
#   make play    set up, then playtest goblin-toll-bridge in the terminal
#   make test    set up, then ruff check + ruff format --check + pytest (the test command)
#
# "Set up" is a virtual environment in $(VENV) with `pip install -e '.[dev]'`; it is made
# once and redone only when pyproject.toml changes (the stamp file $(VENV)/.installed).

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
SPEC ?= goblin-toll-bridge
ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCHES := $(sort $(wildcard bench/bench_*.py))

MODELS ?= .models

.PHONY: help setup play test lint fmt bench clean check-redis models

help:
	@echo "make play     set up, then playtest $(SPEC) (SPEC=id, ARGS='--seed 7 --plain')"
	@echo "make test     set up, then ruff check, ruff format --check and pytest"
	@echo "make lint     mardonar lint of this repository (specs, persona, party, lore)"
	@echo "make fmt      ruff format, then ruff check --fix"
	@echo "make bench    run the benchmarks in bench/ (by hand; not part of the tests)"
	@echo "make setup    only create $(VENV) and install mardonar with its dev tools"
	@echo "make models   install the real-model lane in $(MODELS) (llama.cpp server, Gemma 3 270M, LiteLLM)"
	@echo "make clean    remove caches, bench output and the .venv"

setup: $(STAMP)

# A broken venv (Debian without python3-venv leaves one with no pip) is removed and made
# again; a folder that is not a venv at all is never deleted.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "make: $(PYTHON) not found: install Python 3.11 or newer (apt-get install python3)" >&2; \
	  exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "make: $$($(PYTHON) --version 2>&1) is too old: Mardonar needs Python 3.11 or newer" \
	    "(set PYTHON=python3.11 if you have one)" >&2; \
	  exit 1; }
	@if ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
	  if [ -e "$(VENV)" ] && [ ! -f "$(VENV)/pyvenv.cfg" ]; then \
	    echo "make: $(VENV) exists but is not a virtual environment: move it away or set VENV=..." >&2; \
	    exit 1; \
	  fi; \
	  rm -rf "$(VENV)"; \
	  echo "creating $(VENV) with $(PYTHON) -m venv"; \
	  if ! $(PYTHON) -m venv "$(VENV)"; then \
	    rm -rf "$(VENV)"; \
	    echo "make: '$(PYTHON) -m venv' failed: on Debian/Ubuntu install the venv module with" \
	      "'sudo apt-get install python3-venv', then run make again" >&2; \
	    exit 1; \
	  fi; \
	fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

play: $(STAMP)
	$(BIN)/mardonar play $(SPEC) $(ARGS)

# The test command of the README: lint, format check, types, then the suite. The tests
# start a real redis-server (no fakeredis): when it is missing and we are root on Debian it
# is installed, otherwise this fails loudly with the command to run.
test: check-redis $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy mardonar && $(BIN)/pytest -q

check-redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "redis-server is missing; installing it: apt-get install -y redis-server"; \
	    apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
	      --no-install-recommends redis-server >/dev/null; \
	  fi; \
	  command -v redis-server >/dev/null 2>&1 || { \
	    echo "make: redis-server is not on PATH and the tests need it: install it with" \
	      "'sudo apt-get install redis-server'" >&2; \
	    exit 1; }; }

# The real-model lane (tests/real_model.py): without it `make test` skips those tests with
# one line naming this target; CI installs it and requires it (MARDONAR_REAL_MODEL=required).
models:
	@tools/install_models.sh $(MODELS)

lint: $(STAMP)
	$(BIN)/mardonar lint

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	@if [ -z "$(BENCHES)" ]; then echo "make: no bench/bench_*.py scripts yet" >&2; exit 1; fi
	@set -e; for script in $(BENCHES); do \
	  echo "== $$script"; \
	  $(BIN)/python "$$script"; \
	done

# Only the default .venv is removed: VENV may point at an environment shared with others.
clean:
	rm -rf .pytest_cache .ruff_cache .mypy_cache .hypothesis build dist *.egg-info bench/out
	find mardonar tests bench -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
	rm -rf .venv
