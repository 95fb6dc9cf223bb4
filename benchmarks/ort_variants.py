"""onnxruntime settings for one sd15 UNet step (256x256, guidance batch 2): which is fastest on this CPU.

The serving default (`t2i.onnx_session.create_session`: ORT_ENABLE_ALL, all cores, sequential) is kept
only if it wins here. OpenVINO is not measured: its onnxruntime build replaces the onnxruntime package and
cannot sit beside it in one environment.
"""

from __future__ import annotations

import gc
import statistics
import time
from pathlib import Path

import onnxruntime as ort
from tqdm import tqdm

from benchmarks.unet_step import unet_step_feeds
from t2i import contract
from t2i.onnx_networks import network_path, repository_metadata

LEVELS = {
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def run(repository: Path, size: int, repeats: int) -> list[dict]:
    metadata = repository_metadata(repository)
    feeds = unet_step_feeds(metadata, size)
    variants = [(level, threads, "0") for level in LEVELS for threads in (1, 0)] + [("all", 0, "1")]
    results = []
    for level, threads, spinning in tqdm(variants, desc="onnxruntime variants", unit="variant"):
        options = ort.SessionOptions()
        options.graph_optimization_level = LEVELS[level]
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
        if threads:
            options.intra_op_num_threads = threads
        unet_file = network_path(repository, metadata.name, contract.UNET)
        session = ort.InferenceSession(str(unet_file), options, providers=["CPUExecutionProvider"])
        session.run(["noise_pred"], feeds)  # warm-up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            session.run(["noise_pred"], feeds)
            times.append(time.perf_counter() - started)
        results.append(
            {
                "optimization": level,
                "intra_op_threads": threads or "default (all cores)",
                "spinning": spinning == "1",
                "step_p50_s": round(statistics.median(times), 4),
                "serving_default": level == "all" and threads == 0 and spinning == "0",
            }
        )
        del session
        gc.collect()
    return results
