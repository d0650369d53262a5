# The project's whole interface: every target installs what it needs first and is safe to re-run.
SHELL := /bin/bash
PYTHON3 ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
SAM := .local/sam/bin/sam
SAM_VERSION := 1.170.0
ROWS ?= 200000
SEED ?= 1
DATASETS ?= 12
FUZZ_REQUESTS ?= 10000
FUZZ_SECONDS ?= 900
LOAD_SECONDS ?= 60
LOAD_USERS ?= 16
export SAM_CLI_TELEMETRY := 0
# The layers as Lambda puts them on sys.path, for every tool the targets run.
export PYTHONPATH := layers/common:layers/catalogue:layers/ingestion

.PHONY: up down data demo-files ingest ingest-delete test demo serve lint bench validate build deploy-dev deploy-prod bench-ingest \
	fuzz load

$(VENV)/.installed: requirements-dev.txt layers/catalogue/requirements.txt layers/ingestion/requirements.txt
	@command -v $(PYTHON3) >/dev/null || { echo "make: $(PYTHON3) is required (set PYTHON3=...)" >&2; exit 1; }
	@command -v java >/dev/null && command -v mvn >/dev/null || { echo "make: a JDK (17+) and Maven are required" >&2; exit 1; }
	$(PYTHON3) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(SAM):
	$(PYTHON3) -m venv .local/sam
	.local/sam/bin/pip install -q --disable-pip-version-check aws-sam-cli==$(SAM_VERSION)

up: $(VENV)/.installed
	@$(PY) devtools/services.py up

down: $(VENV)/.installed
	@$(PY) devtools/services.py down


data: up
	@$(PY) devtools/load_data.py --rows $(ROWS) --seed $(SEED) --datasets $(DATASETS)

# SPEC 7 input files of the demo data (one folder per dataset), e.g. to try `make ingest` on.
demo-files: $(VENV)/.installed
	@test -n "$(DIR)" || { echo "usage: make demo-files DIR=<folder> [ROWS=...] [SEED=...] [DATASETS=...]" >&2; exit 2; }
	@$(PY) devtools/demo_data.py "$(DIR)" --rows $(ROWS) --seed $(SEED) --datasets $(DATASETS)
	@echo "demo files in $(DIR)"

# Load (replace) every dataset folder under SOURCE, or the one SOURCE is; remove one dataset.
ingest: up
	@test -n "$(SOURCE)" || { echo "usage: make ingest SOURCE=<folder>" >&2; exit 2; }
	@$(PY) -m ingestion load "$(SOURCE)"

ingest-delete: up
	@test -n "$(DATASET)" || { echo "usage: make ingest-delete DATASET=<dataset_id>" >&2; exit 2; }
	@$(PY) -m ingestion delete "$(DATASET)"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

test: $(VENV)/.installed $(SAM) up lint
	$(PY) -m pytest

serve: up
	@$(PY) devtools/serve.py --port 3000

demo: data serve

# 20 M rows, built once into catalogue_bench (QUICK=1: 1 M rows; EXTRA_INDEXES=1: with devtools/sql/extra_indexes.sql)
bench: up
	@$(PY) devtools/bench.py $(if $(QUICK),--quick) $(if $(REPS),--reps $(REPS)) \
		$(if $(EXTRA_INDEXES),--extra-indexes)

# Ingestion at 20 M rows (QUICK=1: 1 M): full load from files, one 100 k-row dataset replaced both ways; BENCHMARKS.md
bench-ingest: up
	@$(PY) devtools/bench_ingest.py $(if $(QUICK),--quick) $(if $(RELOAD),--reload)

# Schemathesis against the local server on the loaded catalogue: at least FUZZ_REQUESTS requests within FUZZ_SECONDS,
# no 5xx, no answer the served OpenAPI document does not declare; RELIABILITY.md
fuzz: up
	@$(PY) devtools/fuzz.py --requests $(FUZZ_REQUESTS) --seconds $(FUZZ_SECONDS)

# Locust through the local server for LOAD_SECONDS, PostgreSQL then Elasticsearch restarted mid-run; connections,
# memory, failures and recovery; RELIABILITY.md
load: up
	@$(PY) devtools/load.py --seconds $(LOAD_SECONDS) --users $(LOAD_USERS)

validate: $(SAM)
	$(SAM) validate --lint

build: $(SAM)
	$(SAM) build

deploy-%: build
	$(SAM) deploy --config-env $*
