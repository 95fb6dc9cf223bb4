"""The exported networks run in onnxruntime in this process: the plain-onnxruntime loop that benchmarks
and tests compare the served pipeline with. (The Triton network models use `t2i.onnx_session` alone.)"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from t2i import contract
from t2i.contract import ModelMetadata, ModelSpec
from t2i.onnx_session import create_session


def network_path(model_repository: Path, spec: ModelSpec) -> Path:
    return contract.version_dir(model_repository, spec.name) / contract.ONNX_FILENAME


def repository_metadata(model_repository: Path) -> ModelMetadata:
    pipeline_dir = contract.version_dir(model_repository, contract.PIPELINE.name)
    return ModelMetadata.load(pipeline_dir / contract.METADATA_FILENAME)


class OnnxNetworks:
    """`t2i.denoise.Networks` over local onnxruntime sessions of an exported model repository (CPU)."""

    device = torch.device("cpu")

    def __init__(self, model_repository: Path, intra_op_threads: int = 0):
        specs = repository_metadata(model_repository).networks
        self.sessions = {
            spec.name: create_session(network_path(model_repository, spec), intra_op_threads)
            for spec in specs
        }

    def run(self, spec: ModelSpec, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        feeds = {t.name: inputs[t.name].detach().cpu().numpy() for t in spec.inputs}
        outputs = self.sessions[spec.name].run([t.name for t in spec.outputs], feeds)
        return {t.name: torch.from_numpy(o) for t, o in zip(spec.outputs, outputs, strict=True)}
