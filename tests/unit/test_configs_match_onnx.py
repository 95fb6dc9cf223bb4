"""Every config.pbtxt agrees with the ONNX graph it serves: names, types, ranks and fixed dims."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from tritonclient.grpc import model_config_pb2 as mc

from export.triton_config import network_config, parse_config, pipeline_config
from t2i import contract
from t2i.contract import ModelMetadata
from t2i.onnx_networks import only_model, repository_metadata

ONNX_TO_TRITON = {
    onnx.TensorProto.FLOAT: mc.TYPE_FP32,
    onnx.TensorProto.FLOAT16: mc.TYPE_FP16,
    onnx.TensorProto.INT64: mc.TYPE_INT64,
    onnx.TensorProto.INT32: mc.TYPE_INT32,
}


def onnx_signature(values) -> dict[str, tuple[int, list[int]]]:
    signature = {}
    for value in values:
        tensor_type = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor_type.shape.dim]
        signature[value.name] = (ONNX_TO_TRITON[tensor_type.elem_type], dims)
    return signature


def config_signature(tensors) -> dict[str, tuple[int, list[int]]]:
    return {t.name: (t.data_type, list(t.dims)) for t in tensors}


# One exported repository per family (tests/conftest.py), dev-like Flux for its guidance input.
FAMILY_REPOSITORIES = {
    "sd": "tiny_repository",
    "sdxl": "tiny_sdxl_repository",
    "flux": "tiny_flux_dev_repository",
    "sd3": "tiny_sd3_repository",
}


@pytest.mark.parametrize(
    ("family", "spec"),
    [(family, spec) for family, specs in contract.FAMILY_NETWORKS.items() for spec in specs],
    ids=lambda x: x if isinstance(x, str) else x.name,
)
def test_network_config_matches_onnx(
    request: pytest.FixtureRequest, family: str, spec: contract.ModelSpec
) -> None:
    repository = request.getfixturevalue(FAMILY_REPOSITORIES[family])
    served = only_model(repository)
    version_dir = contract.network_dir(repository, served, spec.name)
    config = parse_config((version_dir.parent / "config.pbtxt").read_text())
    graph = onnx.load(str(version_dir / contract.ONNX_FILENAME)).graph
    assert config.name == contract.network_model_name(served, spec.name)
    # Each network publishes its served model's metadata: how clients find the catalogue.
    assert ModelMetadata.from_json(config.parameters[contract.METADATA_PARAMETER].string_value) == (
        repository_metadata(repository)
    )
    assert config.backend == "python"
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    for config_tensors, onnx_values in ((config.input, graph.input), (config.output, graph.output)):
        expected = onnx_signature(onnx_values)
        actual = config_signature(config_tensors)
        assert actual.keys() == expected.keys()
        for name, (dtype, dims) in actual.items():
            onnx_dtype, onnx_dims = expected[name]
            assert dtype == onnx_dtype, name
            assert len(dims) == len(onnx_dims), name
            # A fixed ONNX dim must be fixed to the same value in the config; dynamic ones stay -1.
            for config_dim, onnx_dim in zip(dims, onnx_dims, strict=True):
                assert config_dim == onnx_dim or (config_dim == -1 and onnx_dim in (-1, 0)) or onnx_dim == -1


def test_pipeline_config_follows_contract(tiny_repository: Path) -> None:
    config = parse_config((tiny_repository / "pipeline" / "config.pbtxt").read_text())
    assert [t.name for t in config.input] == [t.name for t in contract.PIPELINE.inputs]
    assert [t.optional for t in config.input] == [t.optional for t in contract.PIPELINE.inputs]
    assert [t.name for t in config.output] == ["images", "partial_index"]
    assert config.max_batch_size == contract.PIPELINE.max_batch_size > 1
    assert config.HasField("dynamic_batching")
    # Decoupled: previews and the final images are separate responses of one request.
    assert config.model_transaction_policy.decoupled is True
    assert config.output[0].data_type == mc.TYPE_UINT8
    # One pipeline serves every model of the repository: its config names none.
    assert contract.METADATA_PARAMETER not in config.parameters


def test_metadata_of_tiny_preset(tiny_repository: Path) -> None:
    metadata = repository_metadata(tiny_repository)
    assert (metadata.native_width, metadata.native_height) == (256, 256)
    assert metadata.vae_scale_factor == 8
    assert metadata.size_multiple == 16
    assert metadata.latent_channels == 4
    assert metadata.text_hidden_size == 32
    assert metadata.random_weights is True
    assert metadata.family == "sd"
    assert (metadata.min_side, metadata.max_side) == (16, contract.MAX_SIDE)


def test_metadata_of_an_sdxl_folder(tiny_sdxl_repository: Path) -> None:
    """The family and its dims come from the checkpoint: two encoders concatenated for the UNet."""
    metadata = repository_metadata(tiny_sdxl_repository)
    assets_dir = contract.model_assets_dir(tiny_sdxl_repository, metadata.name)
    assert metadata.family == "sdxl"
    assert (metadata.text_encoder_hidden_size, metadata.text_encoder_2_hidden_size) == (32, 32)
    assert metadata.text_hidden_size == 64 and metadata.pooled_text_size == 32
    assert metadata.zero_empty_negative_prompt is True
    assert metadata.vae_scaling_factor == pytest.approx(0.13025)
    # diffusers' SDXL defaults and the checkpoint's own scheduler (EulerDiscreteScheduler).
    assert (metadata.default_guidance_scale, metadata.default_scheduler) == (5.0, "euler")
    assert sorted(p.name for p in assets_dir.iterdir() if p.name.startswith("tokenizer")) == list(
        contract.TOKENIZER_DIRNAMES[:2]
    )


def test_native_onnxruntime_backend_config(tiny_repository: Path) -> None:
    metadata = repository_metadata(tiny_repository)
    config = parse_config(network_config(contract.UNET, metadata, "onnxruntime"))
    assert config.platform == "onnxruntime_onnx"
    assert config.default_model_filename == "model.onnx"
    assert not config.backend
    assert list(config.input[0].dims) == [-1, 4, -1, -1]
    assert list(config.input[2].dims) == [-1, -1, 32]


def test_unknown_backend_is_refused() -> None:
    metadata = ModelMetadata("m", 64, 64, 16, 4, 8, 0.18, 32, 77, 20, 40, 7.5)
    with pytest.raises(ValueError, match="unknown backend"):
        network_config(contract.UNET, metadata, "tensorflow")
    assert "model_metadata" in network_config(contract.UNET, metadata, "onnxruntime")
    assert "model_metadata" not in pipeline_config()


@pytest.mark.parametrize(
    ("backend", "platform"), [("tensorrt", "tensorrt_plan"), ("onnxruntime-cuda", "onnxruntime_onnx")]
)
def test_gpu_backend_configs(tiny_repository: Path, backend: str, platform: str) -> None:
    metadata = repository_metadata(tiny_repository)
    for spec in metadata.networks:
        config = parse_config(network_config(spec, metadata, backend))
        assert config.platform == platform
        assert [g.kind for g in config.instance_group] == [mc.ModelInstanceGroup.KIND_GPU]
        assert [t.name for t in config.input] == [t.name for t in spec.inputs]
        assert [t.name for t in config.output] == [t.name for t in spec.outputs]
    assert (
        parse_config(network_config(contract.UNET, metadata, "tensorrt")).default_model_filename
        == "model.plan"
    )
