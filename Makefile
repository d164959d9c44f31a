# TaskFlow: `make run` serves the whole app embedded; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
STAMP  := $(VENV)/.installed
# The hashed locks (generated from pyproject.toml by `make lock`): runtime.txt for the image,
# dev.txt (runtime + test + lint, at runtime.txt's versions) for developers and CI.
LOCKS        := .ci/requirements
RUNTIME_LOCK := $(LOCKS)/runtime.txt
DEV_LOCK     := $(LOCKS)/dev.txt
COMPILE      := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet $(LOCK_FLAGS)
# The tests come in three tiers, by what they need: tests/unit (pure: no database, broker, sockets or
# subprocesses), tests/integration (PostgreSQL, the tansu broker, the apps in-process) and tests/e2e
# (gunicorn processes, `make run`, the image install, the browser). `make test` runs them all; the inner
# loop, `make test-fast`, runs the unit tier in seconds with no database, its property tests on a tenth
# of their examples (tests/support/examples.py). Timings are benchmarks (`make bench`), never tests.


.PHONY: run test test-fast lint format lock bench install migrate clean chromium promtool axe swagger-ui
.PHONY: image stack stack-down docker-engine

$(STAMP): pyproject.toml $(DEV_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
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

test: $(STAMP) chromium promtool axe
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	TASKFLOW_EXAMPLES_SCALE=0.1 $(BIN)/python -m pytest -q tests/unit

## Static checks, all configured in pyproject.toml (well under a minute once installed).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/deptry .
	$(BIN)/mypy
	$(BIN)/python .ci/check_cycles.py
	$(BIN)/python .ci/check_lock.py
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
	$(BIN)/pre-commit validate-config .pre-commit-config.yaml

## Rewrite the tree into the lint's shape (imports sorted, formatted, safe fixes applied).
format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Re-resolve the hashed locks from pyproject.toml, keeping the locked versions pyproject.toml still allows
## (`make lock LOCK_FLAGS=--upgrade` moves every unpinned transitive dependency to its latest).
## uv comes from the venv, or is installed there at the version the lint extra pins.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet "$$(grep -o '"uv==[^"]*"' pyproject.toml | tr -d '"')"
	$(COMPILE) -o $(RUNTIME_LOCK)
	$(COMPILE) --extra test --extra lint -c $(RUNTIME_LOCK) -o $(DEV_LOCK)

## The frontend tests drive Debian's Chromium with Playwright (Playwright's own browser download
## cannot work here).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

## The alert rules are checked with `promtool check rules` (tests/integration/observability): Debian's
## prometheus package ships it.
promtool:
	@command -v promtool >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

## axe-core (pinned in tests/js/package-lock.json), injected by Playwright for the accessibility audit.
axe: tests/js/node_modules/.installed
tests/js/node_modules/.installed: tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --silent
	touch $@

## Swagger UI for /docs: the few files it needs, vendored from npm's swagger-ui-dist (pinned, its
## tarball checked against this integrity) into shared/web/swagger_ui/. Run after changing the version.
SWAGGER_UI_VERSION := 5.35.0
SWAGGER_UI_INTEGRITY := sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==
SWAGGER_UI_FILES := swagger-ui.css swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt favicon-32x32.png LICENSE NOTICE
swagger-ui:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	npm pack --silent --pack-destination "$$tmp" swagger-ui-dist@$(SWAGGER_UI_VERSION) >/dev/null && \
	test "sha512-$$(openssl dgst -sha512 -binary "$$tmp"/swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz | base64 -w0)" = "$(SWAGGER_UI_INTEGRITY)" && \
	tar -xzf "$$tmp"/swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz -C "$$tmp" && \
	rm -rf shared/web/swagger_ui && mkdir -p shared/web/swagger_ui && \
	for f in $(SWAGGER_UI_FILES); do cp "$$tmp/package/$$f" shared/web/swagger_ui/; done && \
	echo "swagger-ui-dist $(SWAGGER_UI_VERSION) $(SWAGGER_UI_INTEGRITY)" > shared/web/swagger_ui/VERSION && \
	(cd shared/web/swagger_ui && sha256sum $(SWAGGER_UI_FILES) > SHA256SUMS)

## Benchmarks (not part of make test): PostgreSQL + tansu, load from separate processes; then the latencies
## and CPU bounds the tests once asserted, each next to its target and a floor from the same run (a missed
## target is reported, never a failure). Each script takes --only to run some of its parts.
bench: $(STAMP) chromium
	@command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python tests/bench/bench_runtime.py
	$(BIN)/python tests/bench/bench_writepath.py
	$(BIN)/python tests/bench/bench_core.py
	$(BIN)/python tests/bench/bench_recurrence.py
	$(BIN)/python tests/bench/bench_audit.py
	$(BIN)/python tests/bench/bench_consumer_recovery.py
	$(BIN)/python tests/bench/bench_fanout.py
	$(BIN)/python tests/bench/bench_notifications.py
	$(BIN)/python tests/bench/bench_embedded.py
	$(BIN)/python tests/bench/bench_import.py
	$(BIN)/python tests/bench/bench_filters.py
	$(BIN)/python tests/bench/bench_recovery.py

## Containers (README "Running the image", "The function topology on one machine"). `make image` builds
## $(IMAGE) from render/Dockerfile on its official slim base, or, when no registry answers, on a stand-in
## made once from Debian's packages (render/base.sh, render/local-base.sh); Docker's cache keeps the
## dependency layer until the lock changes. `make stack` runs every function in a container of its own
## (knative/local/); `make stack-down` removes them.
IMAGE ?= taskflow:local

docker-engine:
	@render/engine.sh

image: docker-engine
	@. render/pip-env.sh && base=$$(render/base.sh) && \
	docker build --network host --build-arg BASE=$$base --build-arg PIP_INDEX_URL --build-arg PIP_EXTRA_INDEX_URL \
	  --build-arg PIP_TRUSTED_HOST --build-arg PIP_CERT -f render/Dockerfile -t $(IMAGE) . && \
	echo "$(IMAGE) on $$base: $$(docker image inspect $(IMAGE) --format '{{.Size}}' | awk '{printf "%.0f MB", $$1 / 1e6}')"

stack: image
	@TASKFLOW_IMAGE=$(IMAGE) knative/local/stack.sh up

stack-down: docker-engine
	@knative/local/stack.sh down

clean:
	rm -rf $(VENV) *.egg-info taskflow.db taskflow.db-* taskflow.db.jwt-secret
