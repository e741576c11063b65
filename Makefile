# One task runner. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: help install run test test-fast lint format migrations-check check bench faults clean

help:
	@echo "make run     set up .venv, migrate, load demo data, serve on $(HOST):$(PORT)"
	@echo "make test    run the test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set)"
	@echo "make lint    ruff, format check, mypy, makemigrations --check"
	@echo "make check   exactly what CI runs"
	@echo "make bench   benchmarks -> bench/results.md"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo_data
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: $(STAMP)
	$(BIN)/pytest

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
	$(BIN)/python -m bench.run

faults: $(STAMP)
	$(BIN)/python -m bench.faults

clean:
	rm -rf $(VENV) db.sqlite3 .mypy_cache .ruff_cache
