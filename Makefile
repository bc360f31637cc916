# abonnement: `make run` sets up and runs the product on the embedded SQLite default;
# `make test` sets up and runs every test (lint, types, unit, integration on SQLite and PostgreSQL).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup run test lint typecheck unit clean chromium bench-api bench-bill

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/abonnement db upgrade
	$(BIN)/abonnement demo

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: setup
	$(BIN)/mypy

# The admin center's browser tests drive Debian's Chromium through Playwright (Playwright's own
# browser download is not used). Installed here when missing and we are root; otherwise a clear
# error. ABONNEMENT_TEST_SKIP_BROWSER=1 leaves the browser tests out on purpose (not under CI).
CHROMIUM ?= /usr/bin/chromium

chromium:
	@if [ -x "$(CHROMIUM)" ] || { [ "$(ABONNEMENT_TEST_SKIP_BROWSER)" = 1 ] && [ "$(CI)" != true ]; }; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Chromium for the admin center's browser tests (apt-get install -y chromium)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "The admin center's browser tests need Chromium at $(CHROMIUM), and it is missing." >&2; \
		echo "Install it as root: apt-get install -y chromium (or set ABONNEMENT_TEST_CHROMIUM)." >&2; \
		exit 1; \
	fi

# Four pytest workers on two cores: most tests spend much of their time waiting on PostgreSQL, a
# server process, Chromium or a subprocess. --maxschedchunk 1: a worker takes its next test when
# it needs one, so the slowest (tests/conftest.py, SLOW_FIRST) start first, one per worker.
PYTEST_WORKERS ?= 4

test: lint typecheck chromium
	$(BIN)/pytest -n $(PYTEST_WORKERS) --maxschedchunk 1 $(PYTEST_ARGS)

# The REST API under load on PostgreSQL (bench/api_load.py; BENCH_API_ARGS="--duration 60").
bench-api: setup
	$(BIN)/python bench/api_load.py $(BENCH_API_ARGS)

# The billing run over N subscriptions due on one day (bench/bill_run.py;
# BENCH_BILL_ARGS="--n 100000 --workers 2 --database-url postgresql://...").
bench-bill: setup
	$(BIN)/python bench/bill_run.py $(BENCH_BILL_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
