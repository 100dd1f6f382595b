# SIDES Kundenportal — the targets people expect.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAGE ?= dev
PORT ?= 8000
export AWS_DEFAULT_REGION ?= eu-central-1

.PHONY: install run test fuzz test-fast lint typecheck bench package deploy destroy browser axe clean

# $(call step,what it does,command): says what it does, runs it, says how long it took.
step = @printf '  %s …' '$(1)'; t=$$(date +%s); $(2) && echo " $$(( $$(date +%s) - t )) s"

$(STAMP): requirements.txt requirements-pdf.txt requirements-dev.txt pyproject.toml
	@echo "Installiere die Python-Pakete nach $(VENV) (beim ersten Mal etwa 2 Minuten) …"
	$(call step,Python-Umgebung $(VENV),test -x $(BIN)/python || $(PYTHON) -m venv $(VENV))
	$(call step,pip aktualisieren,$(BIN)/pip install --quiet --upgrade pip)
	$(call step,Pakete aus requirements-dev.txt,$(BIN)/pip install --quiet -r requirements-dev.txt)
	$(call step,das Portal selbst (pip install -e .),$(BIN)/pip install --quiet --no-deps -e .)
	@touch $(STAMP)

install: $(STAMP)

# Chromium for the end-to-end tests comes from Debian (Playwright cannot download its own here).
browser:
	@command -v chromium >/dev/null || { \
	  echo "Installing Chromium through apt …"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# axe-core (the accessibility rules the end-to-end tests run on every screen), pinned, from the
# npm registry into .local/node (ignored by git); npm itself comes from Debian when missing.
AXE_VERSION := 4.14.1
AXE_STAMP := .local/node/.axe-core-$(AXE_VERSION)

$(AXE_STAMP):
	@command -v npm >/dev/null || { \
	  echo "Installing npm through apt …"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
	@mkdir -p .local/node
	$(call step,axe-core $(AXE_VERSION) aus der npm-Registry nach .local/node,npm install --prefix .local/node --no-save --no-audit --no-fund --loglevel=error axe-core@$(AXE_VERSION) >/dev/null)
	@touch $(AXE_STAMP)

axe: $(AXE_STAMP)

run: install
	PORT=$(PORT) $(BIN)/python -m local.stack

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check chalicelib functions local infra app.py
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy chalicelib functions local infra app.py

test: install browser axe lint typecheck
	$(BIN)/python -m pytest -q
	$(MAKE) fuzz

# The API contract fuzzed: schemathesis with /api/openapi.json against a local stack of its
# own, anonymous and signed in (tests/fuzz/run_schemathesis.py). FUZZ_EXAMPLES per operation.
FUZZ_EXAMPLES ?= 15
fuzz: install
	$(BIN)/python -m tests.fuzz.run_schemathesis --max-examples $(FUZZ_EXAMPLES)

test-fast: install
	$(BIN)/python -m pytest -q -m "not e2e"

bench: install
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/read_path.py
	$(BIN)/python bench/webhook_to_paid.py
	$(BIN)/python bench/monthly_run.py --stores 2000
	$(BIN)/python bench/monthly_issue.py --stores 1000 --workers 4
	$(BIN)/python bench/einvoice_cost.py
	$(BIN)/python bench/package_size.py
	$(BIN)/python bench/web_first_load.py

# Deploying needs AWS credentials; see docs/deploy.md. Extra arguments go in DEPLOY_ARGS,
# e.g. make deploy STAGE=prod DEPLOY_ARGS="--parameter AlarmEmail=ops@example.com".
package: install
	$(BIN)/python -m infra.package --stage $(STAGE)

deploy: package
	$(BIN)/python -m infra.deploy --stage $(STAGE) $(DEPLOY_ARGS)

destroy: install
	$(BIN)/python -m infra.deploy --stage $(STAGE) --destroy $(DEPLOY_ARGS)

clean:
	rm -rf $(VENV) build .local .pytest_cache .mypy_cache .ruff_cache
