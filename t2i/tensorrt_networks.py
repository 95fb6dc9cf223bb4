"""The four networks as TensorRT engines in this process (GPU): the numerics check and GPU benchmarks
compare the TensorRT pipeline with PyTorch through this, without Triton in between.

Not run in CI (no GPU there): tests/gpu/ covers it where a GPU and the `tensorrt` package exist.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from t2i import contract
from t2i.contract import ModelSpec
from t2i.denoise import NetworksBySpec

ENGINE_FILENAME = "model.plan"


class TensorRTNetworks(NetworksBySpec):
    def __init__(self, model_repository: Path):
        import tensorrt as trt

        self.trt = trt
        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        self.engines = {}
        self.contexts = {}
        for spec in contract.NETWORKS:
            engine_bytes = (model_repository / spec.name / "1" / ENGINE_FILENAME).read_bytes()
            engine = runtime.deserialize_cuda_engine(engine_bytes)
            self.engines[spec.name] = engine
            self.contexts[spec.name] = engine.create_execution_context()

    def infer(self, spec: ModelSpec, *arrays: np.ndarray) -> list[np.ndarray]:
        engine, context = self.engines[spec.name], self.contexts[spec.name]
        inputs = [torch.from_numpy(np.ascontiguousarray(a)).cuda() for a in arrays]
        for tensor_spec, tensor in zip(spec.inputs, inputs, strict=True):
            context.set_input_shape(tensor_spec.name, tuple(tensor.shape))
            context.set_tensor_address(tensor_spec.name, tensor.data_ptr())
        outputs = []
        for tensor_spec in spec.outputs:
            shape = tuple(context.get_tensor_shape(tensor_spec.name))
            dtype = torch.from_numpy(
                np.empty(0, self.trt.nptype(engine.get_tensor_dtype(tensor_spec.name)))
            ).dtype
            output = torch.empty(shape, dtype=dtype, device="cuda")
            context.set_tensor_address(tensor_spec.name, output.data_ptr())
            outputs.append(output)
        stream = torch.cuda.current_stream()
        if not context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execution of {spec.name} failed")
        stream.synchronize()
        return [o.float().cpu().numpy() if o.dtype == torch.float16 else o.cpu().numpy() for o in outputs]
