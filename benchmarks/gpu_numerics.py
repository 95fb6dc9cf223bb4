"""GPU numerics and speed check: the TensorRT pipeline against diffusers PyTorch on the same weights.

    python -m export --preset sd15 --backend tensorrt --precision fp16 --output var/sd15-trt
    python -m benchmarks.gpu_numerics --model-repository var/sd15-trt --preset sd15

Prints PSNR of the TensorRT images against the PyTorch FP32 pipeline's for the same seed (threshold
PSNR_THRESHOLD_DB), and the latency of the TensorRT loop and of diffusers in FP16, as JSON. Needs an
NVIDIA GPU and the tensorrt package.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.quality import psnr
from benchmarks.systems import Workload, diffusers_images, internal_request, load_pipeline
from export.presets import build_preset
from t2i.tensorrt_networks import TensorRTNetworks

# FP16 engines against an FP32 reference after 50 steps: images agree to within visible noise above this.
PSNR_THRESHOLD_DB = 25.0


def timed_diffusers(
    preset: str, workload: Workload, dtype: torch.dtype, repeats: int
) -> tuple[np.ndarray, list]:
    """diffusers on the GPU in `dtype`: the last images, and the times after one warm-up run."""
    pipeline = build_preset(preset).diffusers_pipeline().to("cuda", dtype)
    times, images = [], np.empty(0)
    for _ in range(repeats + 1):
        torch.cuda.synchronize()
        started = time.perf_counter()
        images = diffusers_images(pipeline, workload)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return images, times[1:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-repository", type=Path, required=True)
    parser.add_argument("--preset", default="sd15")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    workload = Workload(args.size, args.steps)

    pipeline = load_pipeline(args.model_repository, TensorRTNetworks(args.model_repository))
    trt_times = []
    for _ in range(args.repeats + 1):
        started = time.perf_counter()
        trt_images = pipeline(internal_request(workload))
        trt_times.append(time.perf_counter() - started)
    reference, _ = timed_diffusers(args.preset, workload, torch.float32, 0)
    _, fp16_times = timed_diffusers(args.preset, workload, torch.float16, args.repeats)
    value = psnr(trt_images, reference)
    result = {
        "gpu": torch.cuda.get_device_name(),
        "workload": workload.__dict__,
        "psnr_vs_pytorch_fp32_db": round(value, 2),
        "psnr_threshold_db": PSNR_THRESHOLD_DB,
        "tensorrt_loop_p50_s": round(statistics.median(trt_times[1:]), 4),
        "diffusers_fp16_p50_s": round(statistics.median(fp16_times), 4),
    }
    print(json.dumps(result, indent=2))
    return 0 if value >= PSNR_THRESHOLD_DB else 1


if __name__ == "__main__":
    raise SystemExit(main())
