"""The OpenVINO backend end to end: the tiny preset exported with `--backend python-openvino` beside its
onnxruntime export, both served by the real tritonserver (the OpenVINO model imports only OpenVINO) behind
the real frontend, asked through the official OpenAI SDK: the same request gets the same picture."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import numpy as np
import pytest
from openai import OpenAI
from PIL import Image

from export.cli import main
from t2i.openvino_runtime import cpu_has_bf16
from t2i.triton_server import TritonServer
from tests.e2e.conftest import free_port, running_frontend

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAI]:
    repository = tmp_path_factory.mktemp("openvino_repository")
    for name, backend in (("tiny-ov", "python-openvino"), ("tiny-ort", "python-onnxruntime")):
        assert (
            main(["--preset", "tiny", "--name", name, "--backend", backend, "--output", str(repository)]) == 0
        )
    work_dir = tmp_path_factory.mktemp("openvino_triton")
    with (
        TritonServer(repository, free_port(), work_dir=work_dir, log_file=work_dir / "triton.log") as triton,
        running_frontend(triton.url, tmp_path_factory.mktemp("openvino_frontend"), {}) as frontend,
    ):
        yield OpenAI(base_url=f"{frontend.url}/v1", api_key="unused-in-open-mode", max_retries=0, timeout=120)


def generate(sdk: OpenAI, model: str) -> np.ndarray:
    response = sdk.images.generate(
        model=model,
        prompt="a red circle on a blue background",
        size="256x256",
        response_format="b64_json",
        extra_body={"seed": 7, "steps": 6},
    )
    assert response.data is not None
    return np.asarray(
        Image.open(io.BytesIO(base64.b64decode(response.data[0].b64_json or ""))).convert("RGB")
    )


def test_openvino_serves_the_onnxruntime_picture(sdk: OpenAI) -> None:
    openvino, onnx = generate(sdk, "tiny-ov").astype(int), generate(sdk, "tiny-ort").astype(int)
    # auto: bf16 where the CPU has it (rounding of 8-bit mantissas), else FP32 (the same to a level).
    if cpu_has_bf16():
        assert np.abs(openvino - onnx).mean() < 4
    else:
        assert np.abs(openvino - onnx).max() <= 2
