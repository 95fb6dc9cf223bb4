"""One onnxruntime session with the serving options. Imports onnxruntime alone: each Triton network model
is its own process, and importing torch or diffusers there would cost seconds and hundreds of MB each."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def create_session(path: Path, intra_op_threads: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # One network runs at a time inside a request, so all threads go to the operator, none across operators.
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if intra_op_threads > 0:
        options.intra_op_num_threads = intra_op_threads
    # Idle worker threads sleep instead of spinning: each Triton model is its own process with its own
    # pool, and spinners steal the cores the running network needs (benchmarks/ort_variants.py measures it).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
