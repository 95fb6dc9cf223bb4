"""The OpenVINO IR of an exported model run in this process: the `t2i.denoise.Networks` tests and
benchmarks compare the served OpenVINO pipeline with."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from t2i import contract
from t2i.contract import ModelMetadata, ModelSpec
from t2i.openvino_runtime import OpenVinoNetwork
from t2i.request import Loras


class OpenVinoNetworks:
    device = torch.device("cpu")

    def __init__(self, repository: Path, served: str, precision: str = "auto"):
        assets = contract.model_assets_dir(repository, served)
        specs = ModelMetadata.load(assets / contract.METADATA_FILENAME).networks
        self.networks = {
            spec.name: OpenVinoNetwork(
                contract.network_dir(repository, served, spec.name) / contract.OPENVINO_FILENAME, precision
            )
            for spec in specs
        }

    def run(
        self, spec: ModelSpec, inputs: Mapping[str, torch.Tensor], loras: Loras = ()
    ) -> dict[str, torch.Tensor]:
        if loras:  # check_request refuses them first; the IR's weights are fixed
            raise ValueError("this backend applies no LoRA adapters per request")
        outputs = self.networks[spec.name].run({t.name: inputs[t.name].numpy() for t in spec.inputs})
        return {t.name: torch.from_numpy(outputs[t.name]) for t in spec.outputs}
