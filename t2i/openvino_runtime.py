"""One network in OpenVINO on the CPU, with the serving options: the inference precision (`auto`: bf16 where
the CPU has bf16 units, FP32 elsewhere), streams and threads, and a compiled model per input shape (static
shapes compile to faster kernels than dynamic ones; a served model sees few shapes). Imports OpenVINO
alone, like `t2i.onnx_session`: each Triton network model is its own process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov

# What OpenVINO computes in (the IR's weights are FP32, or int8 in a denoiser exported with --precision
# int8, which computes in what auto picks).
OPENVINO_PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_bf16(core: ov.Core | None = None) -> bool:
    core = core or ov.Core()
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def resolve_precision(precision: str, core: ov.Core | None = None) -> str:
    """`auto` on this machine: bf16 where OpenVINO finds bf16 units (AMX, AVX512-BF16), else fp32."""
    if precision == "auto":
        return "bf16" if cpu_has_bf16(core) else "fp32"
    if precision not in OPENVINO_PRECISIONS:
        raise ValueError(
            f"OpenVINO precision must be one of {', '.join(OPENVINO_PRECISIONS)}, got {precision!r}"
        )
    return precision


class OpenVinoNetwork:
    def __init__(self, path: Path, precision: str = "auto", streams: int = 1, threads: int = 0):
        self.core = ov.Core()
        self.model = self.core.read_model(str(path))
        self.precision = resolve_precision(precision, self.core)
        self.config: dict[str, str] = {
            "INFERENCE_PRECISION_HINT": "bf16" if self.precision == "bf16" else "f32",
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": str(streams),
        }
        if threads > 0:
            self.config["INFERENCE_NUM_THREADS"] = str(threads)
        self.compiled: dict[tuple, ov.CompiledModel] = {}

    def compiled_for(self, feeds: dict[str, np.ndarray]) -> ov.CompiledModel:
        key = tuple((name, array.shape) for name, array in sorted(feeds.items()))
        compiled = self.compiled.get(key)
        if compiled is None:
            model = self.model.clone()
            model.reshape({name: ov.PartialShape(list(array.shape)) for name, array in feeds.items()})
            compiled = self.compiled[key] = self.core.compile_model(model, "CPU", self.config)
        return compiled

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        compiled = self.compiled_for(feeds)
        results = compiled.create_infer_request().infer(feeds)
        return {output.get_any_name(): np.asarray(results[output]) for output in compiled.outputs}
