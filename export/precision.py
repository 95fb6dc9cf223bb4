"""The dtype networks are loaded, traced and served in (`--precision`), and how a half-precision graph is
verified on a machine whose onnxruntime runs FP32 only.

A 12B Flux transformer traced in FP32 holds 48 GB of weights; in its own bf16, 24 GB. The graphs' inputs
and outputs stay FP32 whatever the precision (`t2i.network_modules.Fp32Boundary` casts at the edges, as
diffusers casts its inputs to the network's dtype), so the pipeline and the configs do not change.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import onnx
import torch
from onnx import TensorProto, numpy_helper

from t2i.openvino_runtime import OPENVINO_PRECISIONS

PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")
# What the OpenVINO backends take: the precision OpenVINO computes in, or int8 (the denoiser quantized
# by NNCF, export.int8; the rest computed in what auto picks).
OPENVINO_EXPORT_PRECISIONS = (*OPENVINO_PRECISIONS, "int8")
TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# Backends whose kernels run half precision; onnxruntime's CPU kernels are FP32, so the CPU backends
# (python-onnxruntime, and onnxruntime on a CPU instance) serve FP32 graphs.
HALF_BACKENDS = ("tensorrt", "onnxruntime-cuda")
# Verification tolerance relative to the output's scale, at least this for each precision: half weights
# and activations round to 11 (fp16) or 8 (bf16) significant bits, which compounds over a network's depth
# (the full-size SD 1.5 UNet in OpenVINO bf16 differs from PyTorch FP32 by 5.8% of its output's maximum).
# int8 (export.int8) rounds activations to 256 levels too, measured on held-out denoising inputs: the
# trained default model's UNet 7.9%, the tiny random preset's 11% (random weights quantize worst).
MIN_RTOL = {"fp32": 0.0, "fp16": 1e-2, "bf16": 1e-1, "int8": 1.5e-1}
SAFETENSORS_DTYPES = {"F32": "fp32", "F16": "fp16", "BF16": "bf16"}
_HALF_ONNX_TYPES = (TensorProto.FLOAT16, TensorProto.BFLOAT16)


class PrecisionError(ValueError):
    pass


def stored_precision(folder: Path) -> str:
    """The dtype a component folder's weights are stored in (diffusers' and transformers' safetensors),
    read from the first file's header without loading it; fp32 when there is none (.bin weights)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return "fp32"
    with files[0].open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    floating = sorted(SAFETENSORS_DTYPES[d] for d in dtypes if d in SAFETENSORS_DTYPES)
    # A mixed file (a few FP32 norms beside bf16 weights) is the half type.
    return next((p for p in floating if p != "fp32"), "fp32")


def resolve_precision(requested: str, backend: str, stored: str, device: str = "cpu") -> str:
    """`auto`: the checkpoint's own dtype on a backend with half kernels (the torch backend on CUDA
    too), FP32 on the CPU backends. The torch backend runs any precision on either device (bf16 on a CPU
    with bf16 units is its fast path)."""
    half_kernels = backend in HALF_BACKENDS or (backend == "torch" and device == "cuda")
    if requested == "int8":
        raise PrecisionError(
            "--precision int8 is the OpenVINO backends' (python-openvino, openvino): the denoiser quantized "
            "to int8 by NNCF"
        )
    if requested == "auto":
        return stored if half_kernels else "fp32"
    if requested != "fp32" and not half_kernels and backend != "torch":
        raise PrecisionError(
            f"--precision {requested} needs a GPU backend ({', '.join(HALF_BACKENDS)}): onnxruntime's CPU "
            "kernels run FP32, which --precision auto picks on this backend"
        )
    return requested


def check_openvino_precision(requested: str) -> str:
    """The OpenVINO backends compute in FP32 or bf16 (auto: bf16 where the serving CPU has it); int8
    quantizes the denoiser and computes the rest in what auto picks."""
    if requested not in OPENVINO_EXPORT_PRECISIONS:
        raise PrecisionError(
            f"--precision {requested}: the OpenVINO backends run {', '.join(OPENVINO_EXPORT_PRECISIONS)}"
        )
    return requested


@contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Build modules with parameters in `dtype` from the start: a random full-size preset in bf16 never
    holds an FP32 copy."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def has_half_tensors(model: onnx.ModelProto) -> bool:
    return any(t.data_type in _HALF_ONNX_TYPES for t in model.graph.initializer)


def widen_to_fp32(model: onnx.ModelProto) -> None:
    """Make the graph compute in FP32, in place (a 24 GB graph is not copied): half initializers and
    constants widened (exactly), casts to a half type made casts to FP32. onnxruntime's CPU kernels can run
    it, so the graph's structure (weights, dynamic axes) is checked here; rounding in half precision is
    what the verification's tolerance allows for."""
    graph = model.graph
    for index, tensor in enumerate(graph.initializer):
        if tensor.data_type in _HALF_ONNX_TYPES:
            graph.initializer[index].CopyFrom(_widen_tensor(tensor))
    for node in _all_nodes(graph):
        for attribute in node.attribute:
            if node.op_type == "Cast" and attribute.name == "to" and attribute.i in _HALF_ONNX_TYPES:
                attribute.i = TensorProto.FLOAT
            elif attribute.type == onnx.AttributeProto.TENSOR and attribute.t.data_type in _HALF_ONNX_TYPES:
                attribute.t.CopyFrom(_widen_tensor(attribute.t))
    # Shapes are inferred again by onnxruntime; stale half types in value_info would contradict them.
    del graph.value_info[:]


def _widen_tensor(tensor: onnx.TensorProto) -> onnx.TensorProto:
    values = numpy_helper.to_array(tensor).astype("float32")
    return numpy_helper.from_array(values, tensor.name)


def _all_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(attribute.g)
