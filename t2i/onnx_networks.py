"""The exported networks run in onnxruntime in this process: the CPU runtime of the Triton network models,
and the plain-onnxruntime loop that benchmarks and tests compare the served pipeline with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from t2i import contract
from t2i.contract import ModelSpec
from t2i.denoise import NetworksBySpec


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


def network_path(model_repository: Path, spec: ModelSpec) -> Path:
    return model_repository / spec.name / "1" / contract.ONNX_FILENAME


class OnnxNetworks(NetworksBySpec):
    """`t2i.denoise.Networks` over local onnxruntime sessions of an exported model repository."""

    def __init__(self, model_repository: Path, intra_op_threads: int = 0):
        self.sessions = {
            spec.name: create_session(network_path(model_repository, spec), intra_op_threads)
            for spec in contract.NETWORKS
        }

    def infer(self, spec: ModelSpec, *arrays: np.ndarray) -> list[np.ndarray]:
        feeds = {t.name: a for t, a in zip(spec.inputs, arrays, strict=True)}
        return self.sessions[spec.name].run([t.name for t in spec.outputs], feeds)
