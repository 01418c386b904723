# Quick start: `make run` (main job) and `make test` (suite). Both build .venv first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

run: setup
	$(VENV)/bin/shufflenet models

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/report.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
