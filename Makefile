# Help Center: the two commands are `make run` and `make test` (see README.md);
# `make unit` and `make lint` give fast feedback while you change code.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test unit setup services migrate lint format test-deps audit clean

## make run: set up if needed, migrate, start every service and the gateway (Ctrl-C stops all)
run: setup migrate
	HELPDESK_ENV=$${HELPDESK_ENV:-development} $(PY) -m tools.localrun

## make test: every test: lint, unit, integration, end-to-end and browser
test: setup test-deps lint
	bash scripts/pytest-all.sh

setup: $(STAMP) services

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Start the local PostgreSQL and RabbitMQ if they are down (no-op when they run).
services:
	@bash scripts/ensure-backing-services.sh

## Unset HELPDESK_ENV means production; the local commands say development explicitly.
migrate: setup
	HELPDESK_ENV=$${HELPDESK_ENV:-development} $(VENV)/bin/helpdesk-migrate
	HELPDESK_ENV=$${HELPDESK_ENV:-development} $(PY) -m services.tickets.fill_html

## make unit: the unit-marked tests only (no database, broker or browser)
unit: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider -m unit -q

## Test tools from Debian's packages: Chromium for the browser tests (Playwright's own
## download is unreachable), docker-compose to validate the compose file offline, and
## HAProxy to test the shipped load-balancer config in front of real gateways, and npm,
## which installs axe-core (pinned in tests/browser/package-lock.json) for the
## accessibility checks; promtool (Debian's prometheus) checks and unit-tests the alert
## rules, and PgBouncer runs the services behind transaction pooling. Each entry is
## command[:package] (the package when its name differs).
TEST_TOOLS := chromium docker-compose haproxy npm promtool:prometheus pgbouncer
test-deps:
	@missing=""; for t in $(TEST_TOOLS); do \
		PATH="$$PATH:/usr/sbin" command -v $${t%%:*} >/dev/null || missing="$$missing $${t##*:}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing" >&2; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

## make lint: ruff's checks and formatting, changing nothing
## Style, and bandit's static security check (offline; the skips it applies are
## reviewed in pyproject.toml and docs/security.md).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/bandit -q -c pyproject.toml -r shared services tools deploy scripts -x '*/tests/*'

## Known vulnerabilities in the image's locked dependencies (asks PyPI's advisory API).
audit: $(STAMP)
	$(VENV)/bin/pip-audit --strict --require-hashes --disable-pip -r deploy/requirements.txt

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) artifacts .pytest_cache
