"""One network of a served model run by the torch backend inside Triton's Python backend: the checkpoint's
own diffusers/transformers module (`t2i.torch_networks.TorchNetwork`), tensors in and out by DLPack (on a
GPU they stay there), the LoRA adapters a call names (its `loras` parameter) applied for that call."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import triton_python_backend_utils as pb_utils
from torch.utils.dlpack import from_dlpack, to_dlpack

from t2i import contract
from t2i.contract import ModelMetadata
from t2i.pipeline_io import decode_loras
from t2i.torch_networks import DTYPES, TorchNetwork
from t2i.triton_models.network_errors import failed


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.name = config["name"]
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        metadata = ModelMetadata.from_json(parameters[contract.METADATA_PARAMETER])
        repository = Path(args["model_repository"]).parent
        network = self.name.removeprefix(contract.network_model_name(metadata.name, ""))
        device = parameters.get("device", "cpu")
        if device == "cuda":
            device = f"cuda:{args.get('model_instance_device_id', '0')}"
        self.network = TorchNetwork(
            contract.torch_weights_dir(repository, metadata.name),
            metadata,
            metadata.network(network),
            DTYPES[parameters.get("precision", "fp32")],
            device,
            contract.model_assets_dir(repository, metadata.name) / contract.LORAS_DIRNAME,
        )
        self.logger = pb_utils.Logger
        self.logger.log_info(
            f"{self.name}: {type(self.network.component).__name__} on {device}, "
            f"{torch.get_num_threads()} CPU threads"
        )

    def execute(self, requests: list) -> list:
        # One response per request: a failure fails that request alone, never the whole batch.
        responses = []
        spec = self.network.spec
        for request in requests:
            try:
                inputs = {
                    t.name: from_dlpack(pb_utils.get_input_tensor_by_name(request, t.name).to_dlpack())
                    for t in spec.inputs
                }
                parameters = json.loads(request.parameters() or "{}")
                loras = decode_loras(parameters.get(contract.LORAS_PARAMETER, "[]"))
                outputs = self.network(inputs, loras)
                tensors = [
                    pb_utils.Tensor.from_dlpack(t.name, to_dlpack(outputs[t.name].contiguous()))
                    for t in spec.outputs
                ]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as exc:  # a shape the module cannot take, an adapter that fails to load
                responses.append(failed(self.name, exc))
        return responses
