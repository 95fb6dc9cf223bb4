"""The exported networks run in onnxruntime in this process: the CPU runtime of the Triton network models,
and the plain-onnxruntime loop that benchmarks and tests compare the served pipeline with."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from t2i import contract
from t2i.contract import ModelSpec
from t2i.denoise import NetworksBySpec
from t2i.onnx_session import create_session


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
