"""`--precision`: networks exported in their own dtype with FP32 edges, verified on the CPU, and the
full-size flow presets' shapes."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import torch
from onnx import TensorProto, numpy_helper
from safetensors.torch import save_file

from export.cli import main
from export.components import checkpoint_precision
from export.flow_presets import flux_schnell_pipeline, sd35_medium_pipeline, tiny_flux_pipeline
from export.onnx_export import export_onnx, plan_exports, verify_onnx
from export.precision import MIN_RTOL, PrecisionError, resolve_precision, stored_precision
from export.presets import build_preset
from export.repository import ExportOptions, manifest_path
from t2i import contract


def test_stored_precision_reads_the_safetensors_header(tmp_path: Path) -> None:
    save_file(
        {"a.weight": torch.zeros(2, dtype=torch.bfloat16), "norm": torch.zeros(2)}, tmp_path / "m.safetensors"
    )
    assert stored_precision(tmp_path) == "bf16"  # a few FP32 norms beside half weights
    (tmp_path / "m.safetensors").unlink()
    save_file({"a.weight": torch.zeros(2, dtype=torch.float16)}, tmp_path / "m.safetensors")
    assert stored_precision(tmp_path) == "fp16"
    assert stored_precision(tmp_path / "missing") == "fp32"


def test_auto_keeps_the_checkpoints_dtype_on_gpu_backends_only() -> None:
    assert resolve_precision("auto", "tensorrt", "bf16") == "bf16"
    assert resolve_precision("auto", "onnxruntime-cuda", "fp16") == "fp16"
    assert resolve_precision("auto", "python-onnxruntime", "bf16") == "fp32"
    assert resolve_precision("fp32", "tensorrt", "bf16") == "fp32"
    with pytest.raises(PrecisionError, match="needs a GPU backend"):
        resolve_precision("bf16", "onnxruntime", "fp32")


def test_the_vae_stays_fp32_unless_asked() -> None:
    options = ExportOptions(backend="tensorrt", precision="fp16")
    assert options.network_precision("unet") == options.network_precision("text_encoder") == "fp16"
    assert options.network_precision("vae_decoder") == options.network_precision("vae_encoder") == "fp32"
    assert ExportOptions(precision="bf16", half_vae=True).network_precision("vae_decoder") == "bf16"
    assert ExportOptions(backend="tensorrt").network_precision("unet") == "fp32"


def test_half_precision_on_a_cpu_backend_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--preset", "tiny", "--output", str(tmp_path), "--precision", "fp16"]) == 2
    assert "--precision fp16 needs a GPU backend" in capsys.readouterr().err
    assert not (tmp_path / contract.PIPELINE.name).exists()


def initializer_types(path: Path) -> set[int]:
    return {t.data_type for t in onnx.load(str(path), load_external_data=False).graph.initializer}


def io_types(path: Path) -> set[int]:
    graph = onnx.load(str(path), load_external_data=False).graph
    return {v.type.tensor_type.elem_type for v in (*graph.input, *graph.output)}


def test_a_bf16_flux_folder_exports_in_bf16_with_fp32_edges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder stored in bf16 is traced in bf16 on a GPU backend (`auto`), without an FP32 copy; the VAE
    stays FP32; the graphs' inputs and outputs are FP32 and int64 as the contract says; each network is
    verified against PyTorch in bf16."""
    folder = tmp_path / "flux-bf16"
    tiny_flux_pipeline(guidance_embeds=False).to(torch.bfloat16).save_pretrained(folder)
    assert checkpoint_precision(folder) == "bf16"
    repository = tmp_path / "repo"
    argv = ["--model", str(folder), "--output", str(repository), "--backend", "onnxruntime-cuda"]
    assert main(argv) == 0
    assert "in bf16 (stored in bf16)" in capsys.readouterr().out
    manifest = json.loads(manifest_path(repository, "flux-bf16").read_text())
    assert manifest["precision"] == {
        "text_encoder": "bf16",
        "text_encoder_2": "bf16",
        "transformer": "bf16",
        "vae_decoder": "fp32",
        "vae_encoder": "fp32",
    }
    assert all(v["max_abs_diff"] <= v["tolerance"] for v in manifest["verification"])
    transformer = contract.network_dir(repository, "flux-bf16", "transformer") / contract.ONNX_FILENAME
    assert TensorProto.BFLOAT16 in initializer_types(transformer)
    assert io_types(transformer) == {TensorProto.FLOAT}
    decoder = contract.network_dir(repository, "flux-bf16", "vae_decoder") / contract.ONNX_FILENAME
    assert TensorProto.BFLOAT16 not in initializer_types(decoder)
    # The CPU backend runs the same folder in FP32.
    assert main([*argv[:4], "--backend", "python-onnxruntime", "--name", "flux-cpu"]) == 0
    cpu = json.loads(manifest_path(repository, "flux-cpu").read_text())
    assert set(cpu["precision"].values()) == {"fp32"}


def test_the_bf16_tolerance_still_catches_a_wrong_graph(tmp_path: Path) -> None:
    """A bf16 text encoder verifies within bf16's tolerance; the same graph with one weight negated
    (the last layer's MLP output weights) does not."""
    components = build_preset("tiny", seed=2, dtype=torch.bfloat16)
    job = next(j for j in plan_exports(components) if j.spec.name == "text_encoder")
    path = tmp_path / contract.ONNX_FILENAME
    export_onnx(job, path, opset=17)
    rtol = MIN_RTOL["bf16"]
    assert verify_onnx(job, path, rtol=rtol).ok
    model = onnx.load(str(path))
    norm = next(t for t in model.graph.initializer if t.name.endswith("layers.1.mlp.fc2.weight"))
    norm.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(norm), norm.name))
    onnx.save(model, str(path))
    wrong = verify_onnx(job, path, rtol=rtol)
    assert not wrong.ok and wrong.max_abs_diff > 5 * wrong.tolerance


def weights(module: torch.nn.Module) -> float:
    """Billions of stored values, as the release's files count them: SD3's position table is a buffer; T5's
    tied embedding counts once."""
    return sum(t.numel() for t in (*module.parameters(), *module.buffers())) / 1e9


def test_the_full_size_flow_presets_have_the_releases_shapes() -> None:
    """Built on the meta device (no memory): FLUX.1 schnell's 11.9B transformer and T5-XXL's 4.76B encoder,
    SD 3.5 medium's 2.5B transformer, parameters in bf16 as released."""
    with torch.device("meta"):
        flux = flux_schnell_pipeline(dtype=torch.bfloat16)
        sd35 = sd35_medium_pipeline(dtype=torch.bfloat16)
    assert weights(flux.transformer) == pytest.approx(11.90, abs=0.02)
    assert weights(flux.text_encoder_2) == pytest.approx(4.76, abs=0.02)
    assert weights(sd35.transformer) == pytest.approx(2.47, abs=0.03)
    assert flux.transformer.dtype == torch.bfloat16 and sd35.text_encoder_3.dtype == torch.bfloat16
    assert flux.vae.config.latent_channels == sd35.vae.config.latent_channels == 16
