"""One exported network run in onnxruntime inside Triton's Python backend.

The CPU stand-in for Triton's native onnxruntime backend, which the Triton build of the nvidia-pytriton
wheel lacks. Tensor names and dtypes come from this model's config.pbtxt, written from `t2i.contract`.
"""

from __future__ import annotations

import json
from pathlib import Path

import triton_python_backend_utils as pb_utils

from t2i import contract
from t2i.onnx_session import create_session
from t2i.triton_models.network_errors import failed


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self.name = config["name"]
        model_file = Path(args["model_repository"]) / args["model_version"] / contract.ONNX_FILENAME
        threads = config.get("parameters", {}).get("intra_op_num_threads", {}).get("string_value", "0")
        self.session = create_session(model_file, int(threads))
        self.input_names = [tensor["name"] for tensor in config["input"]]
        self.output_names = [tensor["name"] for tensor in config["output"]]

    def execute(self, requests: list) -> list:
        # One response per request: a failure fails that request alone, never the whole batch.
        responses = []
        for request in requests:
            try:
                feeds = {
                    name: pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                    for name in self.input_names
                }
                outputs = self.session.run(self.output_names, feeds)
                tensors = [pb_utils.Tensor(n, o) for n, o in zip(self.output_names, outputs, strict=True)]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as exc:  # onnxruntime raises for shapes the graph cannot take
                responses.append(failed(self.name, exc))
        return responses
