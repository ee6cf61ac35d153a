# Prework: `make run` serves on http://127.0.0.1:8000, `make test` runs every check.
# Both work on a fresh clone: the virtualenv and the test engines' system
# packages are set up on first use.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.prework-installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
LINT_PATHS := $(wildcard src tests bench)
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
APT_GET := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get -y -q

.PHONY: help venv run init test lint typecheck imports test-unit test-contract test-api \
        test-integration test-e2e test-differential test-all \
        system-deps bench bench-deps bench-sync bench-media clean

help:
	@echo "make run            set up, then serve on http://$(HOST):$(PORT) (embedded engines)"
	@echo "make test           lint, type-check, import rules, then every test tier (engines start once)"
	@echo "make test-unit      tests/unit only (pure: no engines, processes or network)"
	@echo "make test-contract  tests/contract only (SQLite, DynamoDB Local, SeaweedFS)"
	@echo "make test-api       tests/api only"
	@echo "make test-integration  tests/integration only (the test engines themselves)"
	@echo "make test-e2e       tests/e2e only (prework serve as a real process)"
	@echo "make test-differential  tests/differential only (our json0 against ot-json0 in node;"
	@echo "                    PREWORK_JSON0_PAIRS=200000 for more pairs than the default 10,000)"
	@echo "make bench          run every bench/bench_*.py"
	@echo "make bench-sync     /api/sync/ws against ShareDB 7 (BENCH_SYNC_ARGS=--quick for a short run)"
	@echo "make bench-media    direct uploads: 100 x 5 MB via SeaweedFS, 1 GB on the embedded default"
	@echo "                    (BENCH_MEDIA_ARGS=--quick for a short run)"
	@echo "make clean          remove the virtualenv and caches (never var/, your data)"

# ---------------------------------------------------------------- environment
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# reinstall only when the project's dependencies change
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $@

venv: $(STAMP)

# DynamoDB Local needs Java; its jar is fetched with npm on first use. The
# differential tests run the reference json0 (npm ot-json0) under node, the sync
# tests ShareDB's own client (npm sharedb and ws).
system-deps:
	@missing=""; \
	command -v java >/dev/null 2>&1 || missing="$$missing default-jre-headless"; \
	command -v node >/dev/null 2>&1 || missing="$$missing nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(APT_GET) update && $(APT_GET) install --no-install-recommends $$missing; \
	fi

# ---------------------------------------------------------------- run
init: venv
	$(BIN)/prework init

run: init
	$(BIN)/prework serve --host $(HOST) --port $(PORT)

# ---------------------------------------------------------------- checks
lint: venv
	$(BIN)/ruff check $(LINT_PATHS)

typecheck: venv
	$(BIN)/mypy

# the architecture's import rules ([tool.importlinter] in pyproject.toml)
imports: venv
	$(BIN)/lint-imports --no-cache

# every tier in one pytest run: the engines start once per session
test: lint typecheck imports system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

test-all: test

# a tier with no tests yet (pytest exit 5) is not a failure of that tier
test-unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-contract: venv system-deps
	$(BIN)/pytest tests/contract $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-api: venv system-deps
	$(BIN)/pytest tests/api $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-integration: venv system-deps
	$(BIN)/pytest tests/integration $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-e2e: venv
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-differential: venv system-deps
	$(BIN)/pytest tests/differential $(PYTEST_ARGS) || [ $$? -eq 5 ]

# ---------------------------------------------------------------- benchmarks
# bench/bench_http.py drives the servers with wrk (Debian package wrk);
# bench/bench_instructions.py counts their instructions with valgrind's callgrind
bench-deps:
	@missing=""; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	command -v callgrind_control >/dev/null 2>&1 || missing="$$missing valgrind"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(APT_GET) update && $(APT_GET) install --no-install-recommends $$missing; \
	fi

bench: venv system-deps bench-deps
	@shopt -s nullglob; for script in bench/bench_*.py; do \
	  echo "== $$script"; \
	  $(BIN)/python "$$script"; \
	done

# bench/bench_sync.py: ShareDB 7.0.0 with ws and its WebSocket stream (a pinned
# lockfile, npm ci on first use into .engines/) and node load generators
BENCH_SYNC_ARGS ?=
bench-sync: venv system-deps
	$(BIN)/python bench/bench_sync.py $(BENCH_SYNC_ARGS)

# bench/bench_media.py: SeaweedFS (weed, from the dev extra) and `prework serve`; a
# 1 GiB temporary file and its copies (about 3 GiB of disk at the peak, removed after)
BENCH_MEDIA_ARGS ?=
bench-media: venv
	$(BIN)/python bench/bench_media.py $(BENCH_MEDIA_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
