"""The torch backend on CUDA (FP16, VAE in FP32) against the same export on the CPU in FP32, with and
without a LoRA. Needs an NVIDIA GPU; skips with the reason everywhere else (CI has none)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks.quality import psnr
from export.cli import main as export_main
from export.presets import build_preset
from t2i.onnx_networks import local_pipeline
from t2i.request import GenerationRequest
from t2i.torch_networks import TorchNetworks
from tests.loras import make_lora

pytestmark = pytest.mark.gpu
if not torch.cuda.is_available():
    pytest.skip("needs an NVIDIA GPU (CUDA not available)", allow_module_level=True)


def test_cuda_fp16_matches_the_cpu_fp32_export(tmp_path: Path) -> None:
    folder = tmp_path / "tiny-sd"
    build_preset("tiny", seed=5).diffusers_pipeline().save_pretrained(folder)
    lora = make_lora(folder, tmp_path / "style", text_encoder=False)
    repository = tmp_path / "repo"
    argv = ["--model", str(folder), "--output", str(repository), "--backend", "torch", "--name", "sd"]
    assert export_main([*argv, "--device", "cuda", "--precision", "fp16"]) == 0
    assert export_main(["--lora", str(lora), "--name", "style", "--output", str(repository)]) == 0
    cpu = local_pipeline(repository, "sd", TorchNetworks(repository, "sd"))
    gpu = local_pipeline(repository, "sd", TorchNetworks(repository, "sd", torch.float16, "cuda"))
    for loras in ((), (("style", 0.8),)):
        request = GenerationRequest(prompt="a red circle", width=64, height=64, steps=4, seed=3, loras=loras)
        assert psnr(gpu(request), cpu(request)) >= 30.0
