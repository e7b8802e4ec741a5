# Airlock: the two commands the README promises are `make demo` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
export PYTHONPATH := $(CURDIR)/include
PYTEST := $(PY) -m pytest

.PHONY: setup setup-test up down status demo lint test test-unit test-dags test-integration test-e2e test-compose bench clean

setup:            ## install what `make demo` needs (idempotent; concurrent; progress every 15 s)
	@scripts/setup.sh

setup-test:       ## `make setup` plus the test-only tools: pytest, ruff, mypy, compose CLI, promtool
	@scripts/setup.sh --test

up: setup         ## start the embedded local stack on 127.0.0.1
	@$(PY) -m airlock_dev.stack up

down:             ## stop exactly what `make up` started
	@[ -x $(PY) ] && $(PY) -m airlock_dev.stack down || true

status:           ## what runs, its health and memory
	@$(PY) -m airlock_dev.stack status

demo: setup       ## the whole lifecycle, end to end, on the local stack
	@$(PY) -m airlock_dev.demo

lint: setup-test  ## ruff format --check, ruff check, mypy --strict on include/airlock
	@$(PY) -m ruff format --check .
	@$(PY) -m ruff check .
	@$(PY) -m mypy

test: setup-test  ## unit, DAG integrity, integration and end-to-end tests
	@$(PYTEST) tests/unit tests/dags tests/integration tests/e2e

test-unit: setup-test
	@$(PYTEST) tests/unit

test-dags: setup-test
	@$(PYTEST) tests/dags

test-integration: setup-test
	@$(PYTEST) -m integration tests

test-e2e: setup-test
	@$(PYTEST) -m e2e tests

test-compose: setup-test  ## docker-compose.yml on a real Docker engine (root; ~5 min cold); not in `make test`
	@scripts/compose-engine.sh start && scripts/compose-engine.sh images \
	  && $(PYTEST) -m compose tests/compose; status=$$?; scripts/compose-engine.sh stop; exit $$status

clean: down       ## remove the local stack's state (data, logs, secrets)
	rm -rf .airlock
