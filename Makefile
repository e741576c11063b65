# One task runner. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: help install test-tools run test lint format migrations-check check bench faults clean schemathesis compose-config screenshots

help:
	@echo "make run     set up .venv, migrate, load demo data, serve on $(HOST):$(PORT)"
	@echo "make test    the suite on SQLite, then on PostgreSQL + Redis when they answer (ARGS=... to pytest)"
	@echo "make lint    ruff, format check, mypy, makemigrations --check"
	@echo "make check   exactly what CI runs"
	@echo "make screenshots  the staff console in headless Chromium -> docs/screenshots/"
	@echo "make bench   benchmarks -> bench/results.md"
	@echo "make faults  fault and load suite -> bench/faults.md (FAULTS_QUICK=1: a short run)"
	@echo "make schemathesis  fuzz a live server against its OpenAPI document (ST_EXAMPLES, ST_SEED)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# jose for the cross-language token test (tests/activations/test_token_interop.py): npm ci
# from the lockfile, here and never in a test (tests never reach the internet). Without
# node/npm this says so and goes on: the test then fails under CI and skips loudly elsewhere.
JS_DIR := tests/js
JS_STAMP := $(JS_DIR)/node_modules/.installed
$(JS_STAMP): $(JS_DIR)/package.json $(JS_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(JS_DIR) --no-audit --no-fund --ignore-scripts --loglevel=error && touch $(JS_STAMP); \
	else echo "npm not found: the jose interop test will not run (apt-get install nodejs npm)"; fi

install: $(STAMP) $(JS_STAMP)

# migrate, load the demo data, serve with gunicorn (local settings, --reload): see
# license_service/devserver.py, which tests/ops/test_devserver.py runs too.
run: $(STAMP)
	$(BIN)/python -m license_service.devserver $(HOST):$(PORT)

# DATABASE_URL/REDIS_URL set: one pass on them. Unset: the embedded pass, then a second on
# TEST_DATABASE_URL/TEST_REDIS_URL when both answer (not under CI: .ci/run runs that itself),
# and a banner naming what was not run when they do not. See scripts/run_tests.py.
ARGS ?=
test: $(STAMP) test-tools $(JS_STAMP)
	$(BIN)/python scripts/run_tests.py $(ARGS)

# The Debian packages of the WordPress end-to-end test and the staff console's browser test,
# installed with apt-get when missing (scripts/test_tools.sh; .ci/run installs them too).
# Where they cannot be installed (no root), a warning: those tests then skip, saying why
# (under CI they fail).
test-tools:
	@bash scripts/test_tools.sh || echo "!! could not install $$(bash scripts/test_tools.sh --missing | tr '\n' ' ')(apt-get, as root): the tests that need them will be skipped"

# The staff console in headless Chromium, its pages saved to docs/screenshots/ (1366x768).
screenshots: $(STAMP) test-tools
	SCREENSHOT_DIR=docs/screenshots $(BIN)/pytest -q -p no:cacheprovider tests/console/test_browser.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	DJANGO_SETTINGS_MODULE=license_service.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check:
	bash .ci/run

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench.run

# Fault and load suite on a private PostgreSQL + Redis -> bench/faults.md (FAULTS_QUICK=1: CI's
# short variant). Never touches the machine's shared servers.
faults: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python -m bench.faults

# Fuzz the running service (gunicorn, production settings, throwaway SQLite) against
# /api/schema/ with every schemathesis check. ST_SEED empty = a new seed each run.
ST_EXAMPLES ?= 20
ST_SEED ?=
schemathesis: $(STAMP)
	$(BIN)/python scripts/schemathesis_run.py --max-examples $(ST_EXAMPLES) $(if $(ST_SEED),--seed $(ST_SEED))

# Client-side validation of docker-compose.yml (no Docker engine needed).
compose-config:
	@if docker compose version >/dev/null 2>&1; then SECRET_KEY=$${SECRET_KEY:-x} SIGNING_KEYS_SECRET=$${SIGNING_KEYS_SECRET:-x} docker compose config --quiet; \
	elif command -v docker-compose >/dev/null; then SECRET_KEY=$${SECRET_KEY:-x} SIGNING_KEYS_SECRET=$${SIGNING_KEYS_SECRET:-x} docker-compose config --quiet; \
	else echo "no compose client; tests/ops/test_deploy_files.py checks the structure"; fi

clean:
	rm -rf $(VENV) db.sqlite3 .mypy_cache .ruff_cache
