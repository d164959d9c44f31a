# TaskFlow: `make run` serves the whole app embedded; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
STAMP  := $(VENV)/.installed

.PHONY: run test lint format bench install migrate clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/taskflow-migrate

## Embedded mode: SQLite + in-process bus + background relay, one process, foreground.
run: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-sqlite:///taskflow.db} $(BIN)/taskflow-migrate
	DATABASE_URL=$${DATABASE_URL:-sqlite:///taskflow.db} BIND_HOST=$${BIND_HOST:-127.0.0.1} PORT=$(PORT) \
	WEB_CONCURRENCY=$${WEB_CONCURRENCY:-1} \
	$(BIN)/gunicorn --config render/gunicorn.conf.py 'functions.combined:create_app()'

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q

## Static checks, all configured in pyproject.toml (well under a minute once installed).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/deptry .
	$(BIN)/mypy

## Rewrite the tree into the lint's shape (imports sorted, formatted, safe fixes applied).
format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## The frontend tests drive Debian's Chromium with Playwright (Playwright's own browser download
## cannot work here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

## Benchmarks (not part of make test): PostgreSQL + tansu, load from separate processes.
bench: $(STAMP)
	$(BIN)/python tests/bench/bench_core.py
	$(BIN)/python tests/bench/bench_recurrence.py
	$(BIN)/python tests/bench/bench_audit.py
	$(BIN)/python tests/bench/bench_fanout.py
	$(BIN)/python tests/bench/bench_notifications.py

clean:
	rm -rf $(VENV) *.egg-info taskflow.db taskflow.db-*
