# Nexus — every target sets itself up: a fresh clone needs only `make serve` or `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
PIP := $(BIN)/pip --disable-pip-version-check -q

.PHONY: install install-dev serve test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(PIP) install --upgrade pip

# torch first, pinned: the CPU build on this machine; anything looser pulls a CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e .
	touch $@

$(DEV_STAMP): pyproject.toml $(STAMP)
	$(PIP) install -e ".[dev]"
	touch $@

install: $(STAMP)

install-dev: $(DEV_STAMP)

# The offline demo runs without auth until the first API key exists (NEXUS_AUTH=on to force it).
serve: $(STAMP)
	NEXUS_AUTH=$${NEXUS_AUTH:-off} HF_HUB_OFFLINE=1 $(BIN)/nexus serve --port 8000

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	@command -v wrk >/dev/null || (apt-get install -y -qq wrk >/dev/null 2>&1) || echo "wrk not installed: the c=64 load falls back to httpx"
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
