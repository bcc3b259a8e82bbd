# Plan B: `make run` starts everything on embedded defaults; `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test faults lint format bench demo clean help test-postgres migrate migration docs asyncapi

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Plan B needs $(PYTHON) (set PYTHON=... to use another 3.11+)"; exit 1; }
	@test -x $(BIN)/python || { echo "creating virtualenv in $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing Plan B and its dependencies into $(VENV) (first run only)"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP) ## Broker, services and a loopback Mastodon/Bluesky sandbox (RUN_ARGS="--no-sandbox")
	$(BIN)/planb run $(RUN_ARGS)

demo: $(STAMP) ## The system + the sandbox and a narrated incident (DEMO_ARGS=--fast)
	$(BIN)/planb demo $(DEMO_ARGS)

test: $(STAMP) ## Run the whole test suite (unit, integration, e2e, faults)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

faults: $(STAMP) ## Only the fault suite, at full size (2,000 incidents through kill -9; ~5 min)
	FAULTS_INCIDENTS=$${FAULTS_INCIDENTS:-2000} $(BIN)/python -m pytest -m faults -s $(PYTEST_ARGS)

# A PostgreSQL server to run the suite on; each test creates (and drops) a database there.
TEST_POSTGRES_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

test-postgres: $(STAMP) ## The whole suite on PostgreSQL (TEST_POSTGRES_URL, a database per test)
	TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

migrate: $(STAMP) ## Upgrade databases to head (all services on SQLite, or SERVICE=router DATABASE_URL=...)
	$(BIN)/python -m shared.devtools.migrate upgrade $(SERVICE)

migration: $(STAMP) ## New revision from the models: make migration SERVICE=router MSG="add drafts.tone"
	@test -n "$(SERVICE)" -a -n "$(MSG)" || { echo 'usage: make migration SERVICE=router MSG="what changed"'; exit 2; }
	$(BIN)/python -m shared.devtools.migrate revision $(SERVICE) -m "$(MSG)"

docs: asyncapi $(STAMP) ## Regenerate docs/configuration.md, docs/asyncapi.yaml, deploy/k8s/configmap.yaml
	$(BIN)/python -m shared.devtools.configdoc > docs/configuration.md
	$(BIN)/python deploy/render_configmaps.py > deploy/k8s/configmap.yaml

asyncapi: $(STAMP) ## Regenerate docs/asyncapi.yaml from shared/contract/events.py
	$(BIN)/python -m shared.devtools.asyncapi > docs/asyncapi.yaml

bench: $(STAMP) ## Benchmarks, services as processes: a table, bench/results/latest.json and .svg (BENCH_ARGS="--quick --only pause-10")
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(STAMP) ## ruff check and format check, mypy --strict on services and shared
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) data .pytest_cache .ruff_cache
