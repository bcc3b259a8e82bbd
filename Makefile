# Plan B: `make run` starts everything on embedded defaults; `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench demo clean help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Plan B needs $(PYTHON) (set PYTHON=... to use another 3.11+)"; exit 1; }
	@test -x $(BIN)/python || { echo "creating virtualenv in $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing Plan B and its dependencies into $(VENV) (first run only)"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP) ## Run broker, ingest, router and publisher on embedded defaults
	$(BIN)/planb run

test: $(STAMP) ## Run the whole test suite (unit, integration, e2e, faults)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) data .pytest_cache .ruff_cache
