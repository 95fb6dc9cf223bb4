"""What a new user does after `make serve`: ask the OpenAI SDK for "a red circle on a blue background" and
get one back, through the real frontend and tritonserver serving the committed default model."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from openai import OpenAI
from PIL import Image

from benchmarks.image_reading import read_image
from t2i.triton_server import TritonServer
from tests.e2e.conftest import Frontend, free_port, running_frontend

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def shapes_frontend(shapes_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Frontend]:
    work_dir = tmp_path_factory.mktemp("shapes_triton")
    with (
        TritonServer(
            shapes_repository, free_port(), work_dir=work_dir, log_file=work_dir / "triton.log"
        ) as triton,
        running_frontend(triton.url, tmp_path_factory.mktemp("shapes_frontend"), {}) as frontend,
    ):
        yield frontend


def test_openai_sdk_gets_the_red_circle_it_asked_for(shapes_frontend: Frontend) -> None:
    sdk = OpenAI(base_url=f"{shapes_frontend.url}/v1", api_key="unused-in-open-mode", max_retries=0)
    assert sdk.models.list().data[0].id == "shapes"  # the served model first, then its aliases
    response = sdk.images.generate(
        prompt="a red circle on a blue background", n=2, size="1024x1024", response_format="b64_json"
    )
    for item in response.data or []:
        image = np.asarray(Image.open(io.BytesIO(base64.b64decode(item.b64_json or ""))).convert("RGB"))
        assert image.shape == (1024, 1024, 3)
        reading = read_image(image)
        assert (reading.colour, reading.shape, reading.background) == ("red", "circle", "blue")
    assert len(response.data or []) == 2
