# segtrain developer entry points. Each target creates .venv on first use and reinstalls
# only when pyproject.toml or the lock file changed.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.segtrain-installed
# outputs of the demo (fixed so that re-running the demo resumes instead of retraining)
DEMO_DIR ?= outputs/demo
PYTEST_ARGS ?=

.PHONY: setup demo test test-all bench lint format clean chromium

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q \
	    -c requirements/constraints.txt -e '.[all]'
	@touch $(STAMP)

setup: $(STAMP)

# Synthetic data -> DeepLabV3 training -> evaluation -> prediction overlays.
demo: setup
	$(BIN)/segtrain data synth
	$(BIN)/segtrain train hydra.run.dir=$(DEMO_DIR)/train
	$(BIN)/segtrain evaluate checkpoint=$(DEMO_DIR)/train/model hydra.run.dir=$(DEMO_DIR)/evaluate
	$(BIN)/segtrain predict checkpoint=$(DEMO_DIR)/train/model limit=6 \
	    output=$(DEMO_DIR)/predictions hydra.run.dir=$(DEMO_DIR)/predict
	@test -f $(DEMO_DIR)/train/report.html && \
	    echo "Run report: $(abspath $(DEMO_DIR))/train/report.html"

# Debian's chromium for the report's headless-browser tests (only when it is missing).
chromium:
	@command -v chromium >/dev/null || \
	    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

# The fast suite (CI): everything but tests marked slow.
test: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-all: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/segtrain bench

lint: setup
	$(BIN)/ruff check segtrain launchers tests
	$(BIN)/ruff format --check segtrain launchers tests

format: setup
	$(BIN)/ruff format segtrain launchers tests
	$(BIN)/ruff check --fix segtrain launchers tests

clean:
	rm -rf outputs multirun bench_results .pytest_cache
