"""One exported network run in OpenVINO inside Triton's Python backend (`--backend python-openvino`): the
embedded Triton's stand-in for the official container's native `openvino` backend. Imports OpenVINO alone
(no torch): tensor names and dtypes come from this model's config.pbtxt, written from `t2i.contract`."""

from __future__ import annotations

import json
from pathlib import Path

import triton_python_backend_utils as pb_utils

from t2i import contract
from t2i.openvino_runtime import OpenVinoNetwork
from t2i.triton_models.network_errors import failed


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.name = config["name"]
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.network = OpenVinoNetwork(
            Path(args["model_repository"]) / args["model_version"] / contract.OPENVINO_FILENAME,
            precision=parameters.get("precision", "auto"),
            streams=int(parameters.get("num_streams", "1")),
            threads=int(parameters.get("inference_num_threads", "0")),
        )
        self.input_names = [tensor["name"] for tensor in config["input"]]
        self.output_names = [tensor["name"] for tensor in config["output"]]
        self.logger = pb_utils.Logger
        self.logger.log_info(f"{self.name}: OpenVINO on the CPU in {self.network.precision}")

    def execute(self, requests: list) -> list:
        # One response per request: a failure fails that request alone, never the whole batch.
        responses = []
        for request in requests:
            try:
                feeds = {
                    name: pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                    for name in self.input_names
                }
                outputs = self.network.run(feeds)
                tensors = [pb_utils.Tensor(name, outputs[name]) for name in self.output_names]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as exc:  # OpenVINO raises for shapes the network cannot take
                responses.append(failed(self.name, exc))
        return responses
