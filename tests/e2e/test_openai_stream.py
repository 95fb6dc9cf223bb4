"""`stream=True` through the real stack, read with the official SDK's own stream and event types."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from openai import OpenAI
from openai.types import ImageGenCompletedEvent, ImageGenPartialImageEvent
from PIL import Image

from t2i.triton_server import TritonServer
from tests.e2e.conftest import Frontend, running_frontend

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def frontend(triton_server: TritonServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Frontend]:
    """A frontend of this module's own (open mode, no rate limit), so these streams do not use up the
    shared keys' per-minute budget."""
    settings = {"T2I_RATE_LIMIT_PER_MINUTE": "0"}
    with running_frontend(triton_server.url, tmp_path_factory.mktemp("stream"), settings) as running:
        yield running


@pytest.fixture(scope="module")
def sdk(frontend: Frontend) -> OpenAI:
    return OpenAI(base_url=f"{frontend.url}/v1", api_key="unused-in-open-mode", max_retries=0)


def decode(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"))


@pytest.mark.parametrize("partial_images", [0, 2, 3])
def test_stream_yields_the_partial_images_asked_for_then_completed(sdk: OpenAI, partial_images: int) -> None:
    stream = sdk.images.generate(
        prompt="a red circle on a blue background",
        model="gpt-image-1",
        size="256x256",
        stream=True,
        partial_images=partial_images,
        extra_body={"seed": 4, "steps": 6},
    )
    events = list(stream)
    assert [type(e) for e in events] == [ImageGenPartialImageEvent] * partial_images + [
        ImageGenCompletedEvent
    ]
    partials = [e for e in events if isinstance(e, ImageGenPartialImageEvent)]
    assert [e.partial_image_index for e in partials] == list(range(partial_images))
    completed = events[-1]
    assert isinstance(completed, ImageGenCompletedEvent)
    assert (completed.size, completed.output_format, completed.background) == ("256x256", "png", "opaque")
    assert completed.usage.total_tokens == 0
    final = decode(completed.b64_json)
    assert final.shape == (256, 256, 3)
    for event in partials:
        assert decode(event.b64_json).shape == final.shape
    # The same request without streaming gives the same pixels: previews change nothing.
    plain = sdk.images.generate(
        prompt="a red circle on a blue background",
        size="256x256",
        response_format="b64_json",
        extra_body={"seed": 4, "steps": 6},
    )
    assert np.array_equal(decode((plain.data or [])[0].b64_json or ""), final)


def test_stream_of_several_images_completes_each(sdk: OpenAI) -> None:
    stream = sdk.images.generate(
        prompt="a star",
        size="256x256",
        n=3,
        stream=True,
        partial_images=1,
        extra_body={"seed": 1, "steps": 3},
    )
    types = [event.type for event in stream]
    assert types == ["image_generation.partial_image"] + ["image_generation.completed"] * 3


def test_a_refused_prompt_is_a_400_before_any_event(sdk: OpenAI) -> None:
    from openai import BadRequestError

    with pytest.raises(BadRequestError) as error:
        list(sdk.images.generate(prompt="x", size="300x200x1", stream=True, partial_images=1))
    assert error.value.status_code == 400


def test_closing_the_stream_cancels_the_generation(frontend: Frontend) -> None:
    """A client that hangs up on its event stream frees the pipeline: a request queued behind a
    150-step 1024x1024 generation nobody will read runs at once."""
    headers: dict[str, str] = {}
    slow = {"prompt": "x", "size": "1024x1024", "n": 4, "steps": 150, "stream": True, "partial_images": 3}
    with (
        httpx.Client(base_url=frontend.url, headers=headers, timeout=60) as client,
        client.stream("POST", "/v1/images/generations", json=slow) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
    # The stream is closed: the generation behind it is cancelled.
    started = time.monotonic()
    with httpx.Client(base_url=frontend.url, headers=headers, timeout=60) as client:
        quick = client.post("/v1/images/generations", json={"prompt": "y", "size": "256x256", "steps": 1})
    assert quick.status_code == 200
    assert time.monotonic() - started < 8  # the abandoned one alone would take far longer here
