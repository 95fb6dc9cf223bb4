"""A model's networks as TensorRT engines in this process (GPU): the numerics check and GPU benchmarks
compare the TensorRT pipeline with PyTorch through this, without Triton in between. Inputs and outputs are
CUDA tensors: latents stay on the GPU between steps.

Not run in CI (no GPU there): tests/gpu/ covers it where a GPU and the `tensorrt` package exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from t2i import contract
from t2i.contract import ModelSpec
from t2i.onnx_networks import repository_metadata
from t2i.request import Loras


class TensorRTNetworks:
    device = torch.device("cuda")

    def __init__(self, model_repository: Path, served: str | None = None):
        import tensorrt as trt

        self.trt = trt
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engines = {}
        self.contexts = {}
        metadata = repository_metadata(model_repository, served)
        for spec in metadata.networks:
            version_dir = contract.network_dir(model_repository, metadata.name, spec.name)
            engine_file = version_dir / contract.ENGINE_FILENAME
            engine = runtime.deserialize_cuda_engine(engine_file.read_bytes())
            self.engines[spec.name] = engine
            self.contexts[spec.name] = engine.create_execution_context()

    def run(
        self, spec: ModelSpec, inputs: Mapping[str, torch.Tensor], loras: Loras = ()
    ) -> dict[str, torch.Tensor]:
        if loras:  # check_request refuses them first; the weights of this backend are fixed
            raise ValueError("this backend applies no LoRA adapters per request")
        engine, context = self.engines[spec.name], self.contexts[spec.name]
        # Engine I/O is FP32/INT64 (FP16 is a builder flag inside the engine); keep the tensors alive.
        tensors = {t.name: inputs[t.name].to(self.device).contiguous() for t in spec.inputs}
        for name, tensor in tensors.items():
            context.set_input_shape(name, tuple(tensor.shape))
            context.set_tensor_address(name, tensor.data_ptr())
        outputs = {}
        for tensor_spec in spec.outputs:
            shape = tuple(context.get_tensor_shape(tensor_spec.name))
            np_dtype = self.trt.nptype(engine.get_tensor_dtype(tensor_spec.name))
            output = torch.empty(
                shape, dtype=torch.from_numpy(np.empty(0, np_dtype)).dtype, device=self.device
            )
            context.set_tensor_address(tensor_spec.name, output.data_ptr())
            outputs[tensor_spec.name] = output
        stream = torch.cuda.current_stream()
        if not context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execution of {spec.name} failed")
        return {name: o.float() if o.dtype == torch.float16 else o for name, o in outputs.items()}
