# The README's two commands are `make run` and `make test`; everything else supports them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK := $(PYTHON) deploy/local/stack.py
UV_VERSION := 0.13.8

.PHONY: help system-packages web-assets setup provision run test unit lint format contracts bench chaos token redrive rebuild trace stack-up stack-down stack-status clean

help:
	@echo "make run    start Kafka, the MongoDB-compatible server, MinIO and the five services"
	@echo "make test   lint, then every test against freshly started real servers"
	@echo "make unit | lint | format | contracts | bench | stack-up | stack-down | stack-status"
	@echo "make redrive TOPIC=records.ready [APPLY=1]   dead letters back to their topic (dry run without APPLY)"
	@echo "make rebuild   replay every case topic into notify's timeline (after its database was lost)"
	@echo "make trace CASE=<case id>   one case's trace from the span file of make run (service, span, duration)"

# The Python environment, from the checked-in lock file (uv is installed with pip if missing).
$(VENV)/.synced: pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(PYTHON) -m uv sync --frozen --python $(PYTHON)
	@touch $@

# Debian packages (Pango and fonts for report PDFs, Chromium for the board's browser test).
system-packages:
	@bash deploy/local/system_packages.sh

# Browser assets the platform serves itself (Swagger UI, the DICOM viewer, axe-core for tests),
# from the checked-in lock file; install scripts never run (one is a telemetry ping).
WEB_ASSETS := deploy/web/node_modules/.installed
$(WEB_ASSETS): deploy/web/package.json deploy/web/package-lock.json
	npm ci --prefix deploy/web --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

web-assets: $(WEB_ASSETS)

setup: system-packages $(VENV)/.synced $(WEB_ASSETS)

# Kafka jars, the FerretDB and MinIO binaries and promtool (checks deploy/monitoring in
# `make test`): built or fetched once, cached by version.
provision:
	$(STACK) provision

run: setup provision
	$(PY) deploy/local/run.py

test: setup provision lint
	SOP_REQUIRE_STACK=1 $(STACK) exec -- $(PY) -m pytest tests

unit: setup
	$(PY) -m pytest tests/unit tests/contract

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy services shared

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

contracts: setup
	$(PY) -m shared.schemas write

# After a fix: the dead letters of TOPIC go back to it (a dry run that counts them by reason
# unless APPLY=1). Uses the KAFKA_* / SOP_NAMESPACE of the environment, like the services.
redrive: setup
	@test -n "$(TOPIC)" || (echo "make redrive TOPIC=<topic> [APPLY=1]" && exit 2)
	$(PY) -m shared.redrive $(TOPIC) $(if $(APPLY),--apply,)

# Notify's timeline (the board, the status pages' history) replayed from the case topics into
# its database, with progress; safe beside a running notify and to run again.
rebuild: setup
	$(PY) -m services.notify.rebuild

# One case's trace from the span file `make run` writes: the tree of spans with service, name
# and duration (TRACES overrides the file).
TRACES ?= .state/stack/traces.jsonl
trace: setup
	@test -n "$(CASE)" || (echo "make trace CASE=<case id> [TRACES=<span file>]" && exit 2)
	$(PY) -m shared.tracing show $(CASE) --file $(TRACES)

# Benchmarks against a fresh real stack (and Orthanc, installed if missing); results in bench/.
bench: setup provision
	$(PY) -m bench

# The fault and hostile-input tests at full scale (`make test` runs them reduced).
chaos: setup provision
	SOP_CHAOS_SCALE=10 SOP_FUZZ_EXAMPLES=20000 SOP_REQUIRE_STACK=1 $(STACK) exec -- $(PY) -m pytest --timeout=3600 tests/chaos tests/fuzz

# A development bearer token signed by the development identity key that `make run` created
# (the case-link key signs only family, physician and partner tokens).
ROLE ?= intake-staff
SUBJECT ?= staff-1
token: setup
	@AUTH_DEV_IDENTITY_KEY_PATH=.state/stack/auth/dev-identity-key.pem $(PY) -m shared.auth token $(ROLE) $(SUBJECT) $(ORG)

stack-up: provision
	$(STACK) up

stack-down:
	$(STACK) down

stack-status:
	$(STACK) status

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
