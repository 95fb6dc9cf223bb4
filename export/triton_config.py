"""config.pbtxt files for the model repository, built as ModelConfig protos from `t2i.contract`."""

from __future__ import annotations

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from t2i import contract
from t2i.contract import ModelMetadata, ModelSpec, TensorSpec

# OpenVINO IR: run by a Python model in the embedded Triton, or by the official container's native backend.
OPENVINO_BACKENDS = ("python-openvino", "openvino")
BACKENDS = (
    "python-onnxruntime",
    "onnxruntime",
    "onnxruntime-cuda",
    "tensorrt",
    contract.TORCH_BACKEND,
    *OPENVINO_BACKENDS,
)


def _tensor(spec: TensorSpec, metadata: ModelMetadata | None, message: type) -> object:
    # The pipeline's tensors have no dim that names a metadata field: it serves every model.
    dims = spec.resolved_dims(metadata) if metadata is not None else spec.dims
    tensor = message(
        name=spec.name,
        data_type=mc.DataType.Value(f"TYPE_{'STRING' if spec.dtype == 'BYTES' else spec.dtype}"),
        dims=list(dims),
    )
    if spec.optional:
        tensor.optional = True
    return tensor


def _model_config(spec: ModelSpec, metadata: ModelMetadata | None, name: str) -> mc.ModelConfig:
    # Networks have max_batch_size 0 and an explicit batch dim: the pipeline sizes their batches itself
    # (guidance doubles them). The pipeline batches whole requests through Triton's dynamic batcher.
    config = mc.ModelConfig(name=name, max_batch_size=spec.max_batch_size)
    if spec.decoupled:
        config.model_transaction_policy.decoupled = True
    if spec.max_batch_size > 0:
        # No queue delay: a lone request starts at once; requests that arrive while a batch runs
        # wait for it anyway and then go together.
        config.dynamic_batching.SetInParent()
    config.input.extend(_tensor(t, metadata, mc.ModelInput) for t in spec.inputs)
    config.output.extend(_tensor(t, metadata, mc.ModelOutput) for t in spec.outputs)
    return config


def network_config(
    spec: ModelSpec, metadata: ModelMetadata, backend: str, device: str = "cpu", precision: str = "fp32"
) -> str:
    """One network of a served model, named `<served>__<network>`; it publishes its served model's
    metadata, so that clients find every served model, and its facts, from Triton's configs."""
    config = _model_config(spec, metadata, contract.network_model_name(metadata.name, spec.name))
    config.parameters[contract.METADATA_PARAMETER].string_value = metadata.to_json()
    if backend == "python-onnxruntime":
        config.backend = "python"
        config.instance_group.add(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)
        # 0: onnxruntime's default, one thread per physical core.
        config.parameters["intra_op_num_threads"].string_value = "0"
    elif backend == "onnxruntime":
        # Native backend of the official Triton container; no instance_group so Triton picks GPU if any.
        config.platform = "onnxruntime_onnx"
        config.default_model_filename = contract.ONNX_FILENAME
    elif backend == "onnxruntime-cuda":
        # The second GPU option: onnxruntime's CUDA execution provider, pinned to the GPU.
        config.platform = "onnxruntime_onnx"
        config.default_model_filename = contract.ONNX_FILENAME
        config.instance_group.add(kind=mc.ModelInstanceGroup.KIND_GPU, count=1)
    elif backend == contract.TORCH_BACKEND:
        # The checkpoint's own modules in PyTorch (t2i.triton_models.torch_network), on the CPU or a GPU.
        config.backend = "python"
        kind = mc.ModelInstanceGroup.KIND_GPU if device == "cuda" else mc.ModelInstanceGroup.KIND_CPU
        config.instance_group.add(kind=kind, count=1)
        config.parameters["device"].string_value = device
        config.parameters["precision"].string_value = precision
    elif backend == "python-openvino":
        config.backend = "python"
        config.instance_group.add(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)
        config.parameters["precision"].string_value = precision  # auto: bf16 where the CPU has it
        config.parameters["num_streams"].string_value = "1"
        config.parameters["inference_num_threads"].string_value = "0"  # 0: every core
    elif backend == "openvino":
        # The official container's OpenVINO backend; its CPU plugin computes in bf16 where the CPU has
        # it unless told otherwise, which is what `auto` means.
        config.backend = "openvino"
        config.default_model_filename = contract.OPENVINO_FILENAME
        config.instance_group.add(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)
        if precision != "auto":
            hint = "bf16" if precision == "bf16" else "f32"
            config.parameters["INFERENCE_PRECISION_HINT"].string_value = hint
        config.parameters["PERFORMANCE_HINT"].string_value = "LATENCY"
    elif backend == "tensorrt":
        config.platform = "tensorrt_plan"
        config.default_model_filename = contract.ENGINE_FILENAME
        config.instance_group.add(kind=mc.ModelInstanceGroup.KIND_GPU, count=1)
    else:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return text_format.MessageToString(config)


def pipeline_config() -> str:
    """The shared pipeline: the same for every repository (each model's facts are its networks')."""
    config = _model_config(contract.PIPELINE, None, contract.PIPELINE.name)
    config.backend = "python"
    config.instance_group.add(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)
    return text_format.MessageToString(config)


def parse_config(text: str) -> mc.ModelConfig:
    return text_format.Parse(text, mc.ModelConfig())
