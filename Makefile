# kanrun: every target creates/updates the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export OMP_NUM_THREADS ?= 1

.PHONY: venv install dev bench-deps run test test-slow bench lint clean figures figures-quick

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first, from an overridable spec, only when missing (a bare range pulls a CUDA build)
$(VENV)/.torch: | $(VENV)/bin/python
	@$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q "$(TORCH)"
	@touch $@

# setup.py builds the compiled loops (kanrun/kan/_hidden.c) in place; a change rebuilds them
C_SOURCES := setup.py kanrun/kan/_hidden.c kanrun/kan/_hidden_impl.h kanrun/kan/_evaluate_impl.h \
             kanrun/kan/_spline_loops.h kanrun/kan/_sparse_layer.h

$(VENV)/.installed: pyproject.toml $(C_SOURCES) $(VENV)/.torch
	$(PIP) install -q -e ".[dev]"
	@touch $@

$(VENV)/.bench: pyproject.toml $(C_SOURCES) $(VENV)/.installed
	$(PIP) install -q -e ".[dev,bench]"
	@touch $@

install dev: $(VENV)/.installed

run: $(VENV)/.installed
	$(VENV)/bin/kanrun train

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-slow: $(VENV)/.installed
	$(PY) -m pytest -q -m slow

bench: $(VENV)/.bench
	$(PY) scripts/bench_core.py

# the KAN paper's figures (configs/figure/*.yaml) into figures/NAME/; see docs/figures.md
JOBS ?= 2
figures: $(VENV)/.installed
	$(VENV)/bin/kanrun figure all --jobs $(JOBS)

figures-quick: $(VENV)/.installed
	$(VENV)/bin/kanrun figure all --quick --jobs $(JOBS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check kanrun tests scripts

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache kanrun/kan/*.so
