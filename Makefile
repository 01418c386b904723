# Quick start: `make run` (main job) and `make test` (suite). Both build .venv first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

FMNIST := /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SHUFFLENET := $(VENV)/bin/shufflenet

.PHONY: setup data run test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

# Debian's package puts the official Fashion-MNIST files in $(FMNIST).
data:
	@test -f $(FMNIST)/t10k-labels-idx1-ubyte.gz || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; }

# The main job: the model zoo, a short training run, its evaluation, prediction with
# the weights shipped in the package, and their int8 export, evaluated in ONNX Runtime.
run: setup data
	$(SHUFFLENET) models 'shufflenet_v*_x*'
	$(SHUFFLENET) train --model shufflenet_v2_x0_5 --epochs 2 --train-subset 10000 --lr 0.5 --warmup-epochs 0.2 --label-smoothing 0.1 --channels-last --out runs/quick
	$(SHUFFLENET) eval runs/quick/last.pt
	$(SHUFFLENET) samples --count 6 --out runs/samples
	$(SHUFFLENET) predict shufflenet_v2_x1_0:fashion-mnist runs/samples
	$(SHUFFLENET) export shufflenet_v2_x1_0:fashion-mnist --format onnx-int8 -o runs/v2_x1_0-int8.onnx
	$(SHUFFLENET) eval runs/v2_x1_0-int8.onnx

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/report.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
