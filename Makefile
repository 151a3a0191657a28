# The README's two commands: `make run` (all notebooks, quick profile) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROFILE ?= quick
# Test processes side by side (pytest-xdist), one thread each: on 2 cores 1.2-1.4x the work of one (docs/experiments.md).
TEST_JOBS ?= 2
# Notebooks after 02 run this many side by side, the cores split between them (docs/notebooks.md).
JOBS    ?= 2

# Headless runs write under the repo, never to the home directory.
CACHE := $(CURDIR)/.cache
export MPLCONFIGDIR       := $(CACHE)/matplotlib
export IPYTHONDIR         := $(CACHE)/ipython
export JUPYTER_CONFIG_DIR := $(CACHE)/jupyter/config
export JUPYTER_DATA_DIR   := $(CACHE)/jupyter/data
export JUPYTER_RUNTIME_DIR:= $(CACHE)/jupyter/runtime
export JUPYTER_PLATFORM_DIRS := 1
export XDG_CACHE_HOME     := $(CACHE)/xdg
export PIP_CACHE_DIR      := $(CACHE)/pip
export TORCH_HOME         := $(CACHE)/torch
export HF_HOME            := $(CACHE)/huggingface
export HF_HUB_OFFLINE     := 1
export PYTHONUNBUFFERED   := 1

.PHONY: run test rehearse install clean

# (Re)create the venv when it is missing, broken (e.g. moved, or its Python is gone)
# or older than pyproject.toml; install the package editable and register the kernel.
$(STAMP): pyproject.toml
	@mkdir -p $(CACHE)
	@if ! $(PY) -c "import sys" >/dev/null 2>&1; then \
		echo ">> creating $(VENV)"; rm -rf $(VENV); $(PYTHON) -m venv $(VENV); fi
	@echo ">> installing semsegdiff and its dependencies into $(VENV) (torch comes from local disk)"
	@# byte-compiled at install (pip's default): where PYTHONDONTWRITEBYTECODE is set, as on these machines, a venv
	@# installed with --no-compile re-compiles torch on every import (pytest took 13.6 min instead of 7.5)
	$(PY) -m pip install --progress-bar off -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name semsegdiff --display-name "Python (semsegdiff)"
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/semsegdiff notebooks run --profile $(PROFILE) --jobs $(JOBS)

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_JOBS)

# The paper route on the CPU: every CLI verb and notebook with the paper (and gpu) profile at 128 px, tiny counts.
rehearse: $(STAMP)
	$(PY) scripts/rehearse.py

clean:
	rm -rf runs data .cache .pytest_cache lightning_logs
