# `make run` and `make test` each create .venv and install on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

JAX_VENV ?= .venv-jax
JAX_STAMP = $(JAX_VENV)/.installed

.PHONY: run test test-jax test-slow docs lint format clean

#: The modules mypy checks: the pure ones (no Keras state), and the typed experiment.
TYPED = kerascnn/validation.py kerascnn/geometry.py kerascnn/budget.py kerascnn/layers kerascnn/config.py

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e .
	touch $(STAMP)

run: $(STAMP)  ## the main job
	$(BIN)/kerascnn search

test: $(STAMP)  ## the default suite (slow tests excluded)
	$(BIN)/python -m pytest

$(JAX_STAMP): pyproject.toml requirements-dev.txt
	test -x $(JAX_VENV)/bin/python || $(PYTHON) -m venv $(JAX_VENV)
	$(JAX_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(JAX_VENV)/bin/python -m pip install --quiet -e ".[jax]" "pytest>=7"
	touch $(JAX_STAMP)

# The tests marked `backend` on Keras' JAX backend, in an environment without TensorFlow (`pip install -e ".[jax]"`).
# Optimisation level 0 makes XLA compile the tiny test models ~6x faster on a CPU; results are the same.
test-jax: $(JAX_STAMP)
	@! $(JAX_VENV)/bin/python -c "import tensorflow" 2>/dev/null || (echo "TensorFlow is installed in $(JAX_VENV): the JAX environment must not have it" >&2; exit 1)
	KERAS_BACKEND=jax XLA_FLAGS="--xla_backend_optimization_level=0" $(JAX_VENV)/bin/python -m pytest -m "backend and not slow"

test-slow: $(STAMP)  ## only the tests marked slow (installs Debian's chromium for the TensorBoard screenshots)
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)  ## ruff (format and lint), the import-layer and no-cycle contracts, mypy on the pure modules
	$(BIN)/ruff format --check kerascnn tests tools
	$(BIN)/ruff check kerascnn tests tools
	$(BIN)/lint-imports
	$(BIN)/mypy $(TYPED)

format: $(STAMP)  ## rewrite the code as `make lint` wants it (ruff format, import order)
	$(BIN)/ruff format kerascnn tests tools
	$(BIN)/ruff check --fix kerascnn tests tools

docs: $(STAMP)  ## the documentation site (MkDocs + mkdocstrings) into site/; strict: a warning or broken link fails
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) $(JAX_VENV) .pytest_cache build *.egg-info site
