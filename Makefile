# Two commands on a fresh machine:  `make serve`  and  `make test`  (see README.md).
# Every target installs what it needs on first use; area-specific targets live in mk/*.mk.

SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: help install lock model serve test lint fmt

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN{FS=":.*## "}{printf "  %-20s %s\n", $$1, $$2}'

LOCK := requirements/service.lock

$(VENV)/.installed: pyproject.toml $(LOCK)
	@command -v $(PYTHON) >/dev/null || { echo "installing Python 3.11 (Debian)"; \
	  apt-get update -qq && apt-get install -y -qq python3.11 python3.11-venv >/dev/null; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]" -c $(LOCK)
	@touch $@

install: $(VENV)/.installed ## Create .venv and install pinned dependencies (runtime ones as locked)

# Keeps the versions in the lock that still satisfy pyproject.toml; delete the file to re-resolve all.
lock: install ## Re-resolve requirements/service.lock from pyproject.toml's runtime pins (uv)
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --no-annotate -o $(LOCK)

model: install ## Train and store the model unless the store already has a full one
	$(PY) -m training.ensure

serve: model ## Serve on http://127.0.0.1:3000 with the embedded SQLite store
	$(VENV)/bin/bentoml serve service:DigitService --host $${HOST:-127.0.0.1} --port $${PORT:-3000}

lint: install ## ruff check + format check + mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: install ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Area makefiles add their set-up targets to TEST_PREREQS (Cassandra jars, Docker, browser...).
TEST_PREREQS :=
-include mk/*.mk

test: model $(TEST_PREREQS) ## Run the whole test suite (unit, model, integration, Cassandra, deployment)
	$(PY) -m pytest $(PYTEST_ARGS)
