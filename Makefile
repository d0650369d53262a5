# The project's whole interface: every target installs what it needs first and is safe to re-run.
SHELL := /bin/bash
# Python 3.13, the functions' runtime: found on PATH, else in pyenv's versions (PYTHON=... to choose another).
PYTHON ?= $(firstword $(foreach p,python3.13 $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) \
	/usr/local/bin/python3.13 /usr/bin/python3.13,$(shell $(p) -c 'import sys; assert sys.version_info[:2] == (3, 13); \
	print(sys.executable)' 2>/dev/null)))
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
UV := .local/uv/bin/uv
SAM := .local/sam/bin/sam
SAM_VERSION := 1.170.0
ROWS ?= 200000
SEED ?= 1
DATASETS ?= 12
SIZES ?= spread
FUZZ_REQUESTS ?= 10000
FUZZ_SECONDS ?= 900
LOAD_SECONDS ?= 90
LOAD_USERS ?= 16
export SAM_CLI_TELEMETRY := 0
# The layers as Lambda puts them on sys.path, for every tool the targets run; the tools themselves run as
# `python -m devtools.<room>.<module>` from here, the repository's root (which -m puts first on sys.path).
export PYTHONPATH := layers/common:layers/catalogue:layers/ingestion
# `sam build` looks for python3.13 on PATH.
export PATH := $(dir $(PYTHON)):$(PATH)

.PHONY: up down data demo-files ingest ingest-all ingest-genes ingest-delete test test-fast demo serve lint bench validate \
	build deploy-dev deploy-prod bench-ingest fuzz load docs debian-packages

$(UV):
	@test -n "$(PYTHON)" || { echo "make: Python 3.13 is required (set PYTHON=/path/to/python3.13)" >&2; exit 1; }
	@command -v java >/dev/null && command -v mvn >/dev/null || { echo "make: a JDK (17+) and Maven are required" >&2; exit 1; }
	$(PYTHON) -m venv .local/uv
	.local/uv/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)

# The demo's packages only (a fresh clone's first answer waits for them); the test and fuzz tools come on top.
$(VENV)/.demo: requirements-demo.txt layers/catalogue/requirements.txt layers/ingestion/requirements.txt | $(UV)
	@$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null || rm -rf $(VENV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --python $(PY) -r requirements-demo.txt
	touch $@

$(VENV)/.installed: requirements-dev.txt $(VENV)/.demo
	$(UV) pip install --quiet --python $(PY) -r requirements-dev.txt
	touch $@

$(SAM): | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .local/sam
	$(UV) pip install --quiet --python .local/sam/bin/python aws-sam-cli==$(SAM_VERSION)

# Debian's packages the tests need, installed when missing (checked on every run: a binary, not a stamp, says so):
# pgbouncer (the local pooler, devtools/local/pgbouncer.py) and postgresql (a PostgreSQL built with OpenSSL, for the
# TLS tests: /usr/lib/postgresql/<version>/bin). As root with apt-get (waiting for another apt's lock); otherwise
# make stops and names what to install.
debian-packages:
	@missing=""; \
	test -x /usr/sbin/pgbouncer || missing="$$missing pgbouncer"; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "make: Debian packages missing:$$missing; as root: apt-get install --no-install-recommends$$missing" >&2; \
			exit 1; \
		fi; \
		echo "installing Debian packages:$$missing"; \
		apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive apt-get \
			-o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $$missing; \
	fi

up: $(VENV)/.demo
	@$(PY) -m devtools.local.services up

down: $(VENV)/.demo
	@$(PY) -m devtools.local.services down


data: up
	@$(PY) -m devtools.data.load_data --rows $(ROWS) --seed $(SEED) --datasets $(DATASETS) --sizes $(SIZES)

# SPEC 7 input files of the demo data (one folder per dataset), e.g. to try `make ingest` on.
demo-files: $(VENV)/.demo
	@test -n "$(DIR)" || { echo "usage: make demo-files DIR=<folder> [ROWS=...] [SEED=...] [DATASETS=...] \
		[SIZES=spread|heavy]" >&2; exit 2; }
	@$(PY) -m devtools.data.demo_data "$(DIR)" --rows $(ROWS) --seed $(SEED) --datasets $(DATASETS) --sizes $(SIZES)
	@echo "demo files in $(DIR)"

# Load (replace) every dataset folder under SOURCE, or the one SOURCE is.
ingest: up
	@test -n "$(SOURCE)" || { echo "usage: make ingest SOURCE=<folder>" >&2; exit 2; }
	@$(PY) -m ingestion load "$(SOURCE)"

# Replace the whole catalogue by the dataset folders under SOURCE (one swap; readers see the old or the new one).
ingest-all: up
	@test -n "$(SOURCE)" || { echo "usage: make ingest-all SOURCE=<folder of dataset folders>" >&2; exit 2; }
	@$(PY) -m ingestion replace "$(SOURCE)"

# Load (replace) the gene reference: a TSV with HGNC's columns (symbol, ensembl_gene_id, alias_symbol, prev_symbol).
ingest-genes: up
	@test -n "$(SOURCE)" || { echo "usage: make ingest-genes SOURCE=<file>" >&2; exit 2; }
	@$(PY) -m ingestion genes "$(SOURCE)"

# Remove one dataset (DATASET=<dataset_id>) from both stores.
ingest-delete: up
	@test -n "$(DATASET)" || { echo "usage: make ingest-delete DATASET=<dataset_id>" >&2; exit 2; }
	@$(PY) -m ingestion delete "$(DATASET)"

# docs/api.md's generated part (routes, parameters, answer shapes) from the OpenAPI document the API serves.
docs: $(VENV)/.demo
	@$(PY) -m devtools.docs.api --write

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: $(VENV)/.installed $(SAM) debian-packages up lint
	$(PY) -m pytest

# The unit tier only: no server started, no SAM, no lint; seconds (`make test` runs every tier).
test-fast: $(VENV)/.installed
	$(PY) -m pytest -m unit -q

# SERVE_PORT: the local API's port (a second checkout serves on another one).
SERVE_PORT ?= 3000
serve: up
	@$(PY) -m devtools.local.serve --port $(SERVE_PORT)

demo: data serve

# Every search and catalogue route shape and each function's cold start on 20 M rows in 12 datasets, built once into
# catalogue_bench (QUICK=1: 1 M rows). SCALE=full: three scales in one run (12 datasets / 20 M rows, 1,000 / 20 M,
# 1,200 / 100 M heavy-tailed; LARGEST_ROWS=n where the disk cannot hold 100 M); SCALE=tiny: the same at 0.4-2 M rows.
# DATA_ONLY=1: build the catalogues (once; later runs reuse them), measure nothing.
bench: up
	@$(PY) -m devtools.bench.api $(if $(QUICK),--quick) $(if $(SCALE),--scale $(SCALE)) \
		$(if $(REPS),--reps $(REPS)) $(if $(LARGEST_ROWS),--largest-rows $(LARGEST_ROWS)) $(if $(DATA_ONLY),--data-only)

# Ingestion at 20 M rows (QUICK=1: 1 M): full load from files, one 100 k-row dataset replaced both ways; BENCHMARKS.md
bench-ingest: up
	@$(PY) -m devtools.bench.ingest $(if $(QUICK),--quick) $(if $(RELOAD),--reload)

# Schemathesis against the local server on the loaded catalogue: at least FUZZ_REQUESTS requests within FUZZ_SECONDS,
# no 5xx, no answer the served OpenAPI document does not declare; RELIABILITY.md
fuzz: up $(VENV)/.installed
	@$(PY) -m devtools.stress.fuzz --requests $(FUZZ_REQUESTS) --seconds $(FUZZ_SECONDS)

# Locust through the local server for LOAD_SECONDS, PostgreSQL then Elasticsearch restarted mid-run, then a
# whole-catalogue reload of 200 datasets (its own catalogue, built on the first run); connections, memory, failures,
# recovery, the answers during the reload; RELIABILITY.md
load: up $(VENV)/.installed
	@$(PY) -m devtools.stress.load --seconds $(LOAD_SECONDS) --users $(LOAD_USERS)

validate: $(SAM)
	$(SAM) validate --lint

build: $(SAM)
	$(SAM) build

deploy-%: build
	$(SAM) deploy --config-env $*
