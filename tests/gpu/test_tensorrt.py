"""TensorRT engines of the tiny model against the onnxruntime pipeline. Needs an NVIDIA GPU and the
`tensorrt` package; skips with the reason everywhere else (CI has neither)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks.quality import psnr
from export.cli import main as export_main

pytestmark = pytest.mark.gpu
if not torch.cuda.is_available():
    pytest.skip("needs an NVIDIA GPU (CUDA not available)", allow_module_level=True)
tensorrt = pytest.importorskip("tensorrt", reason="needs the tensorrt package")


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tensorrt_pipeline_matches_onnxruntime(tmp_path: Path, precision: str) -> None:
    from benchmarks.systems import Workload, internal_request, load_pipeline
    from t2i.onnx_networks import OnnxNetworks
    from t2i.tensorrt_networks import TensorRTNetworks

    repository = tmp_path / "repo"
    args = [
        "--preset",
        "tiny",
        "--output",
        str(repository),
        "--backend",
        "tensorrt",
        "--precision",
        precision,
    ]
    assert export_main([*args, "--timing-cache", str(tmp_path / "cache")]) == 0
    request = internal_request(Workload(256, 20))
    reference = load_pipeline(repository, OnnxNetworks(repository))(request)
    images = load_pipeline(repository, TensorRTNetworks(repository))(request)
    assert images.shape == reference.shape
    assert psnr(images, reference) >= (40.0 if precision == "fp32" else 30.0)
