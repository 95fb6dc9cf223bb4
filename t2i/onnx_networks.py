"""The exported networks run in onnxruntime in this process: the plain-onnxruntime loop that benchmarks
and tests compare the served pipeline with. (The Triton network models use `t2i.onnx_session` alone.)"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from t2i import contract
from t2i.contract import ModelMetadata, ModelSpec
from t2i.denoise import DenoisingPipeline, Networks
from t2i.onnx_session import create_session
from t2i.request import Loras


def only_model(model_repository: Path) -> str:
    """The served model of a repository that holds exactly one; ValueError naming them otherwise."""
    names = contract.served_models(model_repository)
    if len(names) != 1:
        held = ", ".join(names) or "none"
        raise ValueError(f"{model_repository} serves {held}: name the model to run")
    return names[0]


def network_path(model_repository: Path, served: str, spec: ModelSpec) -> Path:
    return contract.network_dir(model_repository, served, spec.name) / contract.ONNX_FILENAME


def repository_metadata(model_repository: Path, served: str | None = None) -> ModelMetadata:
    served = served or only_model(model_repository)
    assets = contract.model_assets_dir(model_repository, served)
    return ModelMetadata.load(assets / contract.METADATA_FILENAME)


class OnnxNetworks:
    """`t2i.denoise.Networks` over local onnxruntime sessions of one served model of an exported model
    repository (CPU); `served` may be left out where the repository serves one."""

    device = torch.device("cpu")

    def __init__(self, model_repository: Path, intra_op_threads: int = 0, served: str | None = None):
        self.served = served or only_model(model_repository)
        specs = repository_metadata(model_repository, self.served).networks
        self.sessions = {
            spec.name: create_session(network_path(model_repository, self.served, spec), intra_op_threads)
            for spec in specs
        }

    def run(
        self, spec: ModelSpec, inputs: Mapping[str, torch.Tensor], loras: Loras = ()
    ) -> dict[str, torch.Tensor]:
        if loras:  # check_request refuses them first; the weights of this backend are fixed
            raise ValueError("this backend applies no LoRA adapters per request")
        feeds = {t.name: inputs[t.name].detach().cpu().numpy() for t in spec.inputs}
        outputs = self.sessions[spec.name].run([t.name for t in spec.outputs], feeds)
        return {t.name: torch.from_numpy(o) for t, o in zip(spec.outputs, outputs, strict=True)}


def local_pipeline(
    model_repository: Path, served: str | None = None, networks: Networks | None = None
) -> DenoisingPipeline:
    """A served model's loop in this process, its networks in onnxruntime unless `networks` is given."""
    served = served or only_model(model_repository)
    assets = contract.model_assets_dir(model_repository, served)
    networks = networks or OnnxNetworks(model_repository, served=served)
    return DenoisingPipeline.from_assets_dir(assets, networks)
