"""The OpenVINO backends over the tiny preset: the IR (converted from the verified ONNX) gives the
onnxruntime export's images in FP32, and in bf16 where the CPU has it (auto) images close to them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

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
    for name, backend in (("tiny-ov", "python-openvino"), ("tiny-ort", "python-onnxruntime")):
        argv = ["--preset", "tiny", "--name", name, "--backend", backend, "--output", str(repository)]
        assert main(argv) == 0
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
    assert "the OpenVINO backends run auto, fp32 or bf16" in capsys.readouterr().err
