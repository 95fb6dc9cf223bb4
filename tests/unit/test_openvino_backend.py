"""The OpenVINO backends over the tiny preset: the IR (converted from the verified ONNX) gives the
onnxruntime export's images in FP32, and in bf16 where the CPU has it (auto) images close to them; int8
quantizes the UNet alone, calibrated on its own denoising inputs, and stays close too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openvino as ov
import pytest

from benchmarks.quality import psnr
from export.cli import main
from export.repository import manifest_path
from t2i import contract
from t2i.onnx_networks import local_pipeline
from t2i.openvino_networks import OpenVinoNetworks
from t2i.openvino_runtime import cpu_has_bf16, resolve_precision
from t2i.request import GenerationRequest


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repository = tmp_path_factory.mktemp("openvino") / "repo"
    for name, *extra in (
        ("tiny-ov", "--backend", "python-openvino"),
        ("tiny-ort", "--backend", "python-onnxruntime"),
        ("tiny-int8", "--backend", "python-openvino", "--precision", "int8"),
    ):
        assert main(["--preset", "tiny", "--name", name, *extra, "--output", str(repository)]) == 0
    return repository


def request(**fields: object) -> GenerationRequest:
    return GenerationRequest(
        **({"prompt": "a red circle", "width": 64, "height": 64, "steps": 4, "seed": 3} | fields)  # type: ignore[arg-type]
    )


def test_the_export_holds_the_ir_verified_at_its_precision(repository: Path) -> None:
    unet = contract.network_dir(repository, "tiny-ov", "unet")
    assert (unet / contract.OPENVINO_FILENAME).is_file() and (unet / "model.bin").is_file()
    assert not (unet / contract.ONNX_FILENAME).exists()
    manifest = json.loads(manifest_path(repository, "tiny-ov").read_text())
    expected = "bf16" if cpu_has_bf16() else "fp32"
    assert set(manifest["precision"].values()) == {expected}
    assert all(v["max_abs_diff"] <= v["tolerance"] for v in manifest["verification"])
    config = (repository / contract.network_model_name("tiny-ov", "unet") / "config.pbtxt").read_text()
    assert 'backend: "python"' in config and '"precision"' in config


def test_fp32_equals_the_onnxruntime_export(repository: Path) -> None:
    onnx = local_pipeline(repository, "tiny-ort")(request(model="tiny-ort", num_images=2))
    openvino = local_pipeline(repository, "tiny-ov", OpenVinoNetworks(repository, "tiny-ov", "fp32"))
    images = openvino(request(model="tiny-ov", num_images=2))
    assert np.abs(images.astype(int) - onnx.astype(int)).max() <= 1


def test_auto_is_bf16_where_the_cpu_has_it_and_stays_close(repository: Path) -> None:
    assert resolve_precision("auto") == ("bf16" if cpu_has_bf16() else "fp32")
    onnx = local_pipeline(repository, "tiny-ort")(request(model="tiny-ort"))
    images = local_pipeline(repository, "tiny-ov", OpenVinoNetworks(repository, "tiny-ov"))(
        request(model="tiny-ov")
    )
    assert np.abs(images.astype(int) - onnx.astype(int)).mean() < 4


def test_the_official_containers_backend_gets_native_configs(tmp_path: Path) -> None:
    assert (
        main(["--preset", "tiny", "--backend", "openvino", "--precision", "bf16", "--output", str(tmp_path)])
        == 0
    )
    config = (tmp_path / contract.network_model_name("tiny", "unet") / "config.pbtxt").read_text()
    assert 'backend: "openvino"' in config and 'default_model_filename: "model.xml"' in config
    assert "INFERENCE_PRECISION_HINT" in config and "bf16" in config
    assert not (contract.network_dir(tmp_path, "tiny", "unet") / "model.py").exists()


def test_half_types_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "--preset",
                "tiny",
                "--backend",
                "python-openvino",
                "--precision",
                "fp16",
                "--output",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "the OpenVINO backends run auto, fp32, bf16, int8" in capsys.readouterr().err


def weight_types(ir: Path) -> set[str]:
    model = ov.Core().read_model(str(ir))
    return {
        op.get_element_type().get_type_name() for op in model.get_ops() if op.get_type_name() == "Constant"
    }


def test_int8_quantizes_the_unet_alone(repository: Path) -> None:
    def ir(network: str) -> Path:
        return contract.network_dir(repository, "tiny-int8", network) / contract.OPENVINO_FILENAME

    assert {"u8", "i8"} & weight_types(ir("unet"))
    assert not {"u8", "i8"} & weight_types(ir("text_encoder"))
    assert not {"u8", "i8"} & weight_types(ir("vae_decoder"))
    manifest = json.loads(manifest_path(repository, "tiny-int8").read_text())
    compute = "bf16" if cpu_has_bf16() else "fp32"
    assert manifest["precision"]["unet"] == f"int8, {compute}"
    assert manifest["precision"]["text_encoder"] == compute
    assert all(v["max_abs_diff"] <= v["tolerance"] for v in manifest["verification"])
    # The served network computes in auto's precision; int8 is in the IR.
    config = (repository / contract.network_model_name("tiny-int8", "unet") / "config.pbtxt").read_text()
    assert '"auto"' in config


def test_int8_images_stay_close_to_fp32(repository: Path) -> None:
    onnx = local_pipeline(repository, "tiny-ort")(request(model="tiny-ort", num_images=2))
    int8 = local_pipeline(repository, "tiny-int8", OpenVinoNetworks(repository, "tiny-int8", "fp32"))
    images = int8(request(model="tiny-int8", num_images=2))
    # The tiny preset's random weights quantize worst (the trained default model: benchmarks/results).
    assert 25.0 <= psnr(images, onnx) < float("inf")  # not the FP32 pixels: the UNet did change


def test_int8_is_refused_off_openvino(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--preset", "tiny", "--precision", "int8", "--output", str(tmp_path)]
    assert main(argv) == 2
    assert "--precision int8 is the OpenVINO backends'" in capsys.readouterr().err
