"""One UNet step of an exported model repository in onnxruntime, with classifier-free guidance (batch 2).

    python -m benchmarks.unet_step --model-repository var/sd15_repository --size 256
    python -m benchmarks.unet_step --model-repository var/sdxl_repository --size 512

Checks that the ONNX files (external data included) load and run, and prints the time per step.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from t2i import contract
from t2i.contract import ModelMetadata
from t2i.onnx_networks import network_path, repository_metadata
from t2i.onnx_session import create_session


def unet_step_feeds(metadata: ModelMetadata, size: int) -> dict[str, np.ndarray]:
    """Inputs of one guided UNet step (batch 2) at `size` pixels, seeded, for the model's family: shapes
    from the contract's dims (SDXL's added conditions included)."""
    rng = np.random.default_rng(0)
    axes = {
        contract.BATCH: 2,
        contract.TOKENS: metadata.tokenizer_max_length,
        contract.LATENT_HEIGHT: size // metadata.vae_scale_factor,
        contract.LATENT_WIDTH: size // metadata.vae_scale_factor,
    }
    feeds = {}
    for tensor in metadata.network(contract.UNET.name).inputs:
        shape = [
            axes[d] if d in contract.DYNAMIC_AXES else contract.fixed_dim(metadata, d) for d in tensor.dims
        ]
        feeds[tensor.name] = rng.standard_normal(shape, dtype=np.float32)
    feeds["timestep"] = np.full((2,), 999.0, dtype=np.float32)
    if "time_ids" in feeds:
        feeds["time_ids"] = np.array([[size, size, 0, 0, size, size]] * 2, dtype=np.float32)
    return feeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-repository", type=Path, required=True)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    metadata = repository_metadata(args.model_repository)
    onnx_file = network_path(args.model_repository, metadata.name, contract.UNET)
    external = onnx_file.with_name(onnx_file.name + ".data")
    print(f"model {metadata.name}: {onnx_file} ({onnx_file.stat().st_size / 1e6:.1f} MB)", end="")
    print(f" + external data {external.stat().st_size / 1e9:.2f} GB" if external.exists() else "")

    started = time.perf_counter()
    session = create_session(onnx_file)
    load_s = time.perf_counter() - started
    feeds = unet_step_feeds(metadata, args.size)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        (noise_pred,) = session.run(["noise_pred"], feeds)
        times.append(time.perf_counter() - t0)
    if not np.isfinite(noise_pred).all() or noise_pred.shape != feeds["sample"].shape:
        print("error: UNet output is not finite or has the wrong shape")
        return 1
    result = {
        "model": metadata.name,
        "size": args.size,
        "batch": 2,
        "session_load_s": round(load_s, 2),
        "step_s": [round(t, 3) for t in times],
        "step_median_s": round(statistics.median(times), 3),
        "onnxruntime": ort.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
