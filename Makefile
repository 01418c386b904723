# Quick start: `make run` (main job) and `make test` (checks + suite). Both build .venv first.
# `make test` skips tests marked slow; `make test SLOW=1` (what CI runs) includes them. The suite runs
# in one pytest-xdist worker per core (`make test WORKERS=0` runs it in this process).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

FMNIST := /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SHUFFLENET := $(VENV)/bin/shufflenet
WORKERS ?= auto

.PHONY: setup data run test check docs bench clean

setup: $(STAMP)

# Exact versions from constraints.txt; pyproject.toml only states the ranges a library needs.
$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[all,test]' -c constraints.txt
	@touch $(STAMP)

# Debian's package puts the official Fashion-MNIST files in $(FMNIST).
data:
	@test -f $(FMNIST)/t10k-labels-idx1-ubyte.gz || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; }

# The main job: the model zoo, a short training run, its evaluation, prediction with
# the weights shipped in the package, and their int8 export, evaluated in ONNX Runtime. Run again, it
# starts over (--overwrite: the training run replaces the last one; the other outputs are rewritten).
run: setup data
	$(SHUFFLENET) models 'shufflenet_v*_x*'
	$(SHUFFLENET) train --model shufflenet_v2_x0_5 --epochs 2 --train-subset 10000 --lr 0.5 --warmup-epochs 0.2 --label-smoothing 0.1 --channels-last --out runs/quick --overwrite
	$(SHUFFLENET) eval runs/quick/last.pt
	$(SHUFFLENET) samples --count 6 --out runs/samples
	$(SHUFFLENET) predict shufflenet_v2_x1_0:fashion-mnist runs/samples
	$(SHUFFLENET) export shufflenet_v2_x1_0:fashion-mnist --format onnx-int8 -o runs/v2_x1_0-int8.onnx
	$(SHUFFLENET) eval runs/v2_x1_0-int8.onnx
	$(SHUFFLENET) info runs/v2_x1_0-int8.onnx

# Lint and format (ruff), import layers (import-linter, pyproject.toml), types (mypy on src/).
check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

test: check
	$(PY) -m pytest -q -n $(WORKERS) $(if $(SLOW),,-m "not slow")

# The docs as a site (mkdocs-material, the `docs` extra): --strict fails on a broken link or anchor.
docs: setup
	$(PY) -m pip install -q -e '.[docs]' -c constraints.txt
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

bench: setup
	$(PY) benchmarks/report.py

clean:
	rm -rf $(VENV) build site *.egg-info src/*.egg-info .pytest_cache
