# Set-up, serving and checks. `make serve` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OPTIMUM_VENV := var/optimum-intel
OPTIMUM_PY := $(OPTIMUM_VENV)/bin/python
MODEL_REPOSITORY ?= model_repository
# The default model: trained on the shapes dataset (training/), committed under models/shapes. PRESET=tiny
# (random weights) or MODEL=path/to/a/diffusers/folder serve something else.
MODEL ?= models/shapes
PRESET ?=
# How `make serve` and `make eval` export it: the fastest CPU backend whose images agree with FP32 within
# the export's verification (benchmarks/results/openvino_backend_cpu.md): OpenVINO, computing in bf16 where
# the CPU has bf16 units and FP32 elsewhere. PRECISION=int8 quantizes the denoiser; BACKEND=python-onnxruntime
# is the FP32 onnxruntime path.
BACKEND ?= python-openvino
PRECISION ?= auto
EXPORT_SOURCE = $(if $(PRESET),--preset $(PRESET),--model $(MODEL))
HOST ?= 127.0.0.1
PORT ?= 8000

# Scale-out on one machine: PostgreSQL, Redis, SeaweedFS, two Tritons, two frontend replicas (8000, 8001).
.PHONY: install system-packages model serve scale-out test test-unit test-e2e lint format train eval export-sd15 export-sdxl export-flux-schnell export-sd35-medium bench bench-torch bench-openvino bench-openvino-512 optimum-intel-venv bench-quick perf-analyzer load clean

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
		$(PY) -m export $(EXPORT_SOURCE) --backend $(BACKEND) --precision $(PRECISION) --output $(MODEL_REPOSITORY); \
	fi

serve: model
	$(PY) -m frontend --model-repository $(MODEL_REPOSITORY) --host $(HOST) --port $(PORT)

scale-out: model
	$(PY) -m testbed.scale_out --model-repository $(MODEL_REPOSITORY)

# The Debian packages the service, scale-out and browser tiers start or drive (PostgreSQL's server,
# redis-server, chromium): installed with apt where missing when run as root, else one line naming them.
system-packages: install
	$(PY) -m testbed.system_packages

test: install system-packages
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest tests/unit

test-e2e: install system-packages
	$(PY) -m pytest tests/e2e

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy t2i export frontend benchmarks training

format: install
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# Retrain the default model: the exact commands that produced models/shapes (the log of each is nested in
# models/shapes/training_log.json), about 2.5 hours on 2 cores. First v1 (epsilon prediction on SD's
# schedule: it learns colours and shapes), then trained on into zero-SNR v-prediction, where the prompt
# rather than the noise decides the layout: positions, then more two-shape pictures.
train: install
	$(PY) -m training --output models/shapes
	$(PY) -m training --init models/shapes --output var/ft1 --schedule zero-snr --offset-noise 0 --pair-fraction 0.3 --images 10000 --unet-steps 3000 --unet-lr 4e-4 --warmup-steps 100
	$(PY) -m training --init var/ft1 --output var/ft2 --schedule zero-snr --offset-noise 0 --pair-fraction 0.3 --images 10000 --unet-steps 5000 --unet-lr 6e-4 --warmup-steps 100
	$(PY) -m training --init var/ft2 --output var/ft3 --schedule zero-snr --offset-noise 0 --pair-fraction 0.5 --images 10000 --unet-steps 2500 --unet-lr 4e-4 --warmup-steps 100
	cp -r var/ft3/. models/shapes/

# Prompt following of the default model: PyTorch and the Triton path, read back from the pixels.
eval: install
	$(PY) -m benchmarks.prompt_following --model $(MODEL) --backend $(BACKEND) --precision $(PRECISION)

# Full-size SD 1.5 architecture (random weights, ~4 GB of ONNX with external data), then one UNet step
# in onnxruntime. Not part of CI: needs ~15 GB of memory and several minutes.
export-sd15: install
	$(PY) -m export --preset sd15 --output var/sd15_repository
	$(PY) -m benchmarks.unet_step --model-repository var/sd15_repository --size 256

# Full-size SDXL base architecture (random weights; a 10 GB FP32 UNet, ~14 GB of ONNX), then one UNet step.
# The preset alone takes 14 GB in FP32 and tracing copies the UNet's weights: about 32 GB of memory or more.
export-sdxl: install
	$(PY) -m export --preset sdxl --output var/sdxl_repository
	$(PY) -m benchmarks.unet_step --model-repository var/sdxl_repository --size 512

# Full-size FLUX.1 [schnell] and SD 3.5 medium architectures (random weights), traced in bf16 as released, for
# a GPU: onnxruntime-cuda configs (GPU_BACKEND=tensorrt builds engines on the GPU box). Not part of CI and not
# run on this project's 24 GB machines: flux-schnell needs about 90 GB of memory at its peak, sd35-medium
# about 40 GB (README, "Precision and memory").
GPU_BACKEND ?= onnxruntime-cuda
export-flux-schnell: install
	$(PY) -m export --preset flux-schnell --backend $(GPU_BACKEND) --precision bf16 --output var/flux_schnell_repository

export-sd35-medium: install
	$(PY) -m export --preset sd35-medium --backend $(GPU_BACKEND) --precision bf16 --output var/sd35_medium_repository

# The torch backend on the CPU (FP32, bf16) against onnxruntime FP32 and diffusers (FP32, bf16), in one run:
# the sd15 preset at 256x256/10 steps through REST; about 15 minutes and 16 GB of memory on 2 cores.
bench-torch: install
	$(PY) -m benchmarks.cpu_backends --backend torch --clients 0

# OpenVINO auto (bf16 where the CPU has it), FP32 and int8 against the same and optimum-intel's pipeline,
# plus 8 clients at once against one.
bench-openvino: install $(OPTIMUM_PY)
	$(PY) -m benchmarks.cpu_backends --backend openvino --optimum-python $(OPTIMUM_PY)

# 512x512, 20 steps (8x the work): only what the targets compare, one timed run each after the warm-up,
# no same-seed images, no concurrent part; exports three models at 512 (var/bench_openvino/repository_512,
# about 9 GB, 26 minutes with int8's calibration on 2 cores). Needs more than 24 GiB: on a 24 GiB machine
# the kernel's OOM killer stopped it in the third system's warm-up (2026-12-07).
bench-openvino-512: install $(OPTIMUM_PY)
	$(PY) -m benchmarks.cpu_backends --backend openvino --size 512 --steps 20 --repeats 1 \
		--models sd15-openvino sd15-openvino-int8 --diffusers bf16 --seeds 0 --clients 0 \
		--optimum-python $(OPTIMUM_PY)

# optimum-intel pins older diffusers, transformers and huggingface-hub than this project: its own venv.
# The torchvision pip pairs with it fails to load beside the CPU torch ("torchvision::nms does not exist"),
# and transformers then refuses the AutoProcessor optimum imports; nothing here needs it, so it goes.
optimum-intel-venv: $(OPTIMUM_PY)

$(OPTIMUM_PY):
	$(PYTHON) -m venv $(OPTIMUM_VENV)
	$(OPTIMUM_VENV)/bin/pip install --quiet torch==2.13.0 'optimum-intel[openvino]==2.2.0' diffusers==0.39.0 'numpy<2'
	$(OPTIMUM_VENV)/bin/pip uninstall --yes --quiet torchvision

# Benchmarks: tiny and sd15 (exports sd15 at 256x256 into var/bench, ~4 GB; about 15 minutes on 2 cores).
bench: install perf-analyzer
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m benchmarks.run

bench-quick: install perf-analyzer
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m benchmarks.run --quick --skip-sd15

# Cold start of the default model: spawn -> /readyz 200 and the memory of the whole process tree, 3 runs.
.PHONY: cold-start cold-start-catalogue
cold-start: install
	$(PY) -m benchmarks.cold_start --model $(MODEL) --runs 3

# The same with three models in one repository: the default model, the tiny preset and tiny-sdxl.
cold-start-catalogue: install
	$(PY) -m benchmarks.cold_start --model $(MODEL) --catalogue --runs 3

# perf_analyzer: PyPI's perf-analyzer is a placeholder; the binary ships in the tritonclient 2.41 wheel.
PA_LIBS = $(VENV)/lib/python3*/site-packages/nvidia_pytriton.libs
perf-analyzer: var/tools/perf_analyzer

var/tools/perf_analyzer: | install
	mkdir -p var/tools
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux1_x86_64 \
		-d var/tools 'tritonclient==2.41.0'
	cd var/tools && unzip -o -q -j tritonclient-2.41.0-*.whl 'tritonclient-2.41.0.data/data/bin/perf_analyzer'
	ln -sf $$(ls -d $(abspath $(PA_LIBS)))/libb64-*.so.0d var/tools/libb64.so.0d
	ln -sf $$(ls -d $(abspath $(PA_LIBS)))/libcudart-*.so.12* var/tools/libcudart.so.12
	chmod +x var/tools/perf_analyzer
	rm -f var/tools/tritonclient-2.41.0-*.whl

# Bounded load against a running `make serve` (16 clients, 60 s after 10 s of warm-up): statuses, images
# lost, memory growth. Start the server with T2I_RATE_LIMIT_PER_MINUTE=0 to load the pipeline, not the limiter.
load: install
	$(PY) -m benchmarks.load --url http://$(HOST):$(PORT) --clients 16 --seconds 60 $(if $(KEY),--key $(KEY),)

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
