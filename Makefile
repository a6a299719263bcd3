# `make run` and `make test` each create .venv and install on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test test-slow clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e .
	touch $(STAMP)

run: $(STAMP)  ## the main job
	$(BIN)/kerascnn search

test: $(STAMP)  ## the default suite (slow tests excluded)
	$(BIN)/python -m pytest

test-slow: $(STAMP)  ## only the tests marked slow (installs Debian's chromium for the TensorBoard screenshots)
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)
	$(BIN)/python -m pytest -m slow

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
