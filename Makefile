# shopdb: `make run` serves the demo store, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
# Test processes (pytest-xdist): each runs whole files with its own SQLite and PostgreSQL
# databases; more than the machine's cores only adds contention (PostgreSQL allows 100 clients).
TEST_PROCESSES ?= 2

.DEFAULT_GOAL := help
.PHONY: help install run migrate seed test fuzz lint format bench bench-no-cache bench-scale clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@echo "==> Installing shopdb and its pinned dependencies into $(VENV) (about a minute the first time)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@set -o pipefail; $(BIN)/python -m pip install --disable-pip-version-check --progress-bar off \
		-c constraints.txt -e '.[dev]' 2>&1 | tee $(VENV)/install.log \
		| { grep --line-buffered -E '^(Collecting|Successfully installed)' || true; } \
		|| { echo "pip install failed; see $(VENV)/install.log" >&2; exit 1; }
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install shopdb with its pinned dependencies (idempotent)

migrate: install ## Apply database migrations (SQLite under var/ unless SHOPDB_DATABASE_URL is set)
	$(BIN)/shopdb migrate

seed: migrate ## Load the demo store (once)
	$(BIN)/shopdb seed-demo

run: seed ## Install, migrate, load demo data once, serve on http://$(HOST):$(PORT) with a job worker
	$(BIN)/shopdb serve --host $(HOST) --port $(PORT) --workers $(WORKERS) --with-worker

test: install ## Layer contracts (lint-imports), then the whole test suite (SQLite; PostgreSQL and Redis too when their URLs are set)
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest -q -n $(TEST_PROCESSES) --dist loadfile

fuzz: install ## Longer property-based fuzz of the whole API (schemathesis; SHOPDB_FUZZ_EXAMPLES, default 200)
	SHOPDB_FUZZ_EXAMPLES=$${SHOPDB_FUZZ_EXAMPLES:-200} SHOPDB_FUZZ_RANDOM=1 $(BIN)/pytest -q tests/test_fuzz.py

lint: install ## ruff check, ruff format --check, mypy, lint-imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: install ## Reformat and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## Benchmark suite on PostgreSQL + Redis (~6 min; BENCH_ARGS="--duration 5" to shorten)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-no-cache: install ## Issue 15: the catalog scenarios without Redis (stored documents alone; ~3 min)
	$(BIN)/python -m bench.run --no-cache $(BENCH_ARGS)

bench-scale: install ## Issue 18: lists at 10k vs 300k products, cache off/on (~12 min; BENCH_SCALE_ARGS="--duration 5")
	$(BIN)/python -m bench.scale $(BENCH_SCALE_ARGS)

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
