# Set-up, serving and checks. `make serve` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL_REPOSITORY ?= model_repository
PRESET ?= tiny
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install model serve test test-unit test-e2e lint format export-sd15 clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@# Only its CLIP vocabulary file is used; its torchvision dependency has no CPU build on PyPI here.
	$(PY) -m pip install --quiet --no-deps 'open-clip-torch==3.3.0'
	touch $(STAMP)

# Export the default model only when the repository holds none (a real checkpoint exported there stays).
model: install
	@if [ -f $(MODEL_REPOSITORY)/pipeline/config.pbtxt ]; then \
		echo "$(MODEL_REPOSITORY) already holds a model"; \
	else \
		$(PY) -m export --preset $(PRESET) --output $(MODEL_REPOSITORY); \
	fi

serve: model
	$(PY) -m frontend --model-repository $(MODEL_REPOSITORY) --host $(HOST) --port $(PORT)

test: install
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest tests/unit

test-e2e: install
	$(PY) -m pytest tests/e2e

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy t2i export frontend

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# Full-size SD 1.5 architecture (random weights, ~4 GB of ONNX with external data), then one UNet step
# in onnxruntime. Not part of CI: needs ~15 GB of memory and several minutes.
export-sd15: install
	$(PY) -m export --preset sd15 --output var/sd15_repository
	$(PY) -m benchmarks.unet_step --model-repository var/sd15_repository --size 256

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
