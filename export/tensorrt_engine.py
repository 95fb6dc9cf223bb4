"""ONNX -> TensorRT engine (`model.plan`) with one optimization profile and a persistent timing cache.

Needs the `tensorrt` Python package and an NVIDIA GPU (engines are built for the GPU they will run on);
everything else in export runs without them. A graph traced in FP16 or BF16 (`--precision`) gets the
builder flag that lets TensorRT pick kernels of that type; its inputs and outputs stay FP32, so the
configs are the same as for the other backends.
"""

from __future__ import annotations

from pathlib import Path

from export.tensorrt_profiles import profile_shapes
from t2i.contract import ModelMetadata, ModelSpec

WORKSPACE_BYTES = 8 * 1024**3


class TensorRTUnavailable(RuntimeError):
    pass


def _tensorrt():  # type: ignore[no-untyped-def]
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise TensorRTUnavailable(
            "--backend tensorrt needs the `tensorrt` package and an NVIDIA GPU (pip install tensorrt)"
        ) from exc
    return trt


def build_engine(
    onnx_path: Path,
    engine_path: Path,
    spec: ModelSpec,
    metadata: ModelMetadata,
    precision: str,
    timing_cache: Path,
) -> None:
    trt = _tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    # parse_from_file resolves external data (model.onnx.data) relative to the ONNX file.
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "bf16":
        config.set_flag(trt.BuilderFlag.BF16)
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)

    profile = builder.create_optimization_profile()
    for name, shapes in profile_shapes(spec, metadata).items():
        profile.set_shape(name, shapes.min, shapes.opt, shapes.max)
    config.add_optimization_profile(profile)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine for {spec.name}")
    engine_path.write_bytes(bytes(serialized))
    # Later builds (other networks, re-exports) reuse the measured tactics: much faster rebuilds.
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
