# Two entry points on a fresh machine (Python 3.11, no conda, no GPU):
#   make study   set up .venv from the pinned requirements and run the default study
#   make test    set up .venv and run lint and the whole test suite
#   make gpu-wheels  wheels for the GPU check (benchmarks/gpu_check.sh, README "GPUs")
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: setup study test lint bench gpu-wheels clean

$(BIN)/activate: requirements.txt requirements-test.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-test.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(BIN)/activate

setup: $(BIN)/activate

study: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores $(CORES)
	@echo "report: $(abspath report/default/index.html) (all studies: $(abspath report/index.html))"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

test: lint
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

bench: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_engines.py
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/bench_workflow.py

# Wheels that the GPU machine lacks (Keras, Snakemake, ...) for benchmarks/gpu_check.sh -> .whl/
gpu-wheels:
	bash benchmarks/gpu_wheels.sh

clean:
	rm -rf results report/index.html report/*/ logs .snakemake
