"""An SDXL checkpoint served end to end: the folder a user brings, exported, in the real tritonserver behind
the real frontend, asked through the official OpenAI SDK; the pixels are diffusers' own SDXL pipeline's."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from openai import BadRequestError, OpenAI
from PIL import Image

from t2i import contract
from t2i.triton_server import TritonServer
from tests.e2e.conftest import Frontend, diffusers_sdxl_images, free_port, running_frontend

pytestmark = pytest.mark.e2e
PROMPT = "a red circle on a blue background"


@pytest.fixture(scope="module")
def sdxl_stack(
    tiny_sdxl_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TritonServer, Frontend]]:
    work_dir = tmp_path_factory.mktemp("sdxl_triton")
    with (
        TritonServer(
            tiny_sdxl_repository, free_port(), work_dir=work_dir, log_file=work_dir / "triton.log"
        ) as triton,
        running_frontend(triton.url, tmp_path_factory.mktemp("sdxl_frontend"), {}) as frontend,
    ):
        yield triton, frontend


@pytest.fixture(scope="module")
def sdk(sdxl_stack: tuple[TritonServer, Frontend]) -> OpenAI:
    return OpenAI(base_url=f"{sdxl_stack[1].url}/v1", api_key="unused-in-open-mode", max_retries=0)


def test_openai_route_returns_diffusers_sdxl_pixels(sdk: OpenAI, tiny_sdxl_folder: Path) -> None:
    assert sdk.models.list().data[0].id == tiny_sdxl_folder.name  # the served model first, then its aliases
    response = sdk.images.generate(
        prompt=PROMPT,
        n=2,
        size="256x256",  # the native size: no resize between the pipeline and the response
        response_format="b64_json",
        extra_body={"seed": 21, "steps": 4, "guidance_scale": 6.0, "scheduler": "euler"},
    )
    served = np.stack(
        [
            np.asarray(Image.open(io.BytesIO(base64.b64decode(d.b64_json or ""))).convert("RGB"))
            for d in response.data or []
        ]
    )

    expected = diffusers_sdxl_images(tiny_sdxl_folder, PROMPT, [21, 22], steps=4, guidance=6.0)
    assert served.shape == (2, 256, 256, 3)
    assert np.abs(served / 255.0 - expected).max() < 2 / 255


def test_sdxl_serves_its_defaults_and_refuses_bad_input(sdk: OpenAI) -> None:
    """No steps or guidance given: the checkpoint's served defaults; steps out of range: a 400."""
    response = sdk.images.generate(prompt=PROMPT, size="1536x1024", response_format="b64_json")
    image = Image.open(io.BytesIO(base64.b64decode((response.data or [])[0].b64_json or "")))
    assert image.size == (1536, 1024)
    with pytest.raises(BadRequestError) as error:
        sdk.images.generate(prompt=PROMPT, size="1024x1024", extra_body={"steps": 500})
    assert error.value.status_code == 400 and "steps" in str(error.value)


def test_triton_serves_the_sdxl_networks(
    sdxl_stack: tuple[TritonServer, Frontend], tiny_sdxl_folder: Path
) -> None:
    served = tiny_sdxl_folder.name
    with grpcclient.InferenceServerClient(sdxl_stack[0].url) as client:
        assert client.is_model_ready(contract.PIPELINE.name)
        for network in ("text_encoder", "text_encoder_2", "unet", "vae_decoder", "vae_encoder"):
            assert client.is_model_ready(contract.network_model_name(served, network)), network
        # The second text encoder ran for the requests above: it is part of the served path.
        name = contract.network_model_name(served, "text_encoder_2")
        stats = client.get_inference_statistics(name).model_stats[0]
        assert stats.inference_count > 0
