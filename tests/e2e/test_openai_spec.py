"""The OpenAI routes' answers checked against OpenAI's own spec (tests/openai_spec, vendored from
openai/openai-openapi), through the real frontend and tritonserver (tiny preset), with the official SDK as
the client: what strictly typed clients (other languages' SDKs, schemathesis with OpenAI's spec) require.
Sizes are the spec's (its enum has only the GPT image models' three), generated at the tiny model's area."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import numpy as np
import pytest
from openai import BadRequestError, NotFoundError, OpenAI
from PIL import Image

from tests.e2e.conftest import Frontend, StaticFiles
from tests.openai_spec import SPEC_SIZES, assert_conforms

pytestmark = pytest.mark.e2e
SIZE = SPEC_SIZES[0]
SIDE = 1024
FAST = {"steps": 2}  # these tests check shapes and kept pixels, not image quality


def png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, "PNG")
    return buffer.getvalue()


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def decode(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"))


def sdk_for(frontend: Frontend, key: str) -> OpenAI:
    return OpenAI(base_url=f"{frontend.url}/v1", api_key=frontend.keys[key], max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def sdk(frontend: Frontend) -> OpenAI:
    return sdk_for(frontend, "alice")


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    return np.stack([x // 4, y // 4, (x // 32 % 2) * 255], axis=-1).astype(np.uint8)


def test_every_images_response_is_openais_with_usage_as_it_requires(sdk: OpenAI, picture: np.ndarray) -> None:
    """generations, edits and variations: ImagesResponse, whose `usage` (ImageGenUsage) requires the token
    counts, beside this server's cost, latency, size and model."""
    image = ("picture.png", png(picture), "image/png")
    extra: dict[str, Any] = {"extra_body": FAST, "response_format": "b64_json", "size": SIZE}
    answers = [
        sdk.images.with_raw_response.generate(prompt="a red circle", **extra),
        sdk.images.with_raw_response.edit(image=image, prompt="a blue square", **extra),
        sdk.images.with_raw_response.create_variation(image=image, **extra),
    ]
    for answer in answers:
        body = answer.http_response.json()
        assert_conforms("ImagesResponse", body)
        assert body["usage"]["model_used"] == "tiny" and body["usage"]["image_size"] == SIZE
        assert body["usage"]["total_tokens"] == 0


def test_streamed_events_are_openais(sdk: OpenAI) -> None:
    stream = sdk.images.generate(
        prompt="a red circle", size=SIZE, stream=True, partial_images=1, extra_body=FAST
    )
    events = [event.to_dict() for event in stream]  # as received, this server's extra fields included
    assert [e["type"] for e in events] == ["image_generation.partial_image", "image_generation.completed"]
    assert_conforms("ImageGenPartialImageEvent", events[0])
    assert_conforms("ImageGenCompletedEvent", events[1])


def post_json_edit(sdk: OpenAI, body: dict[str, Any]) -> httpx.Response:
    """The JSON form of an edit, sent by the SDK's own client (its `images.edit` sends only multipart);
    an error status raises the SDK's error, as for its own methods."""
    return sdk.post("/images/edits", body=body, cast_to=httpx.Response)


def test_json_edit_reads_the_image_by_url_and_the_mask_by_data_uri(
    sdk: OpenAI, picture: np.ndarray, static_files: StaticFiles
) -> None:
    alpha = np.full((SIDE, SIDE), 255, dtype=np.uint8)
    alpha[256:768, 320:704] = 0  # repaint here
    body = {
        "images": [{"image_url": static_files.add("picture.png", png(picture))}],
        "mask": {"image_url": data_uri(png(np.dstack([picture, alpha]), "RGBA"))},
        "prompt": "a red circle on a blue background",
        "response_format": "b64_json",
        **FAST,
    }
    response = post_json_edit(sdk, body)
    assert response.status_code == 200, response.text
    assert_conforms("ImagesResponse", response.json())
    (item,) = response.json()["data"]
    result = decode(item["b64_json"])
    assert result.shape == picture.shape  # size `auto`: the image's own
    assert np.array_equal(result[alpha == 255], picture[alpha == 255])
    assert np.abs(result[alpha == 0].astype(int) - picture[alpha == 0]).mean() > 10


def test_json_edit_reads_a_file_id_of_the_callers_own_images_only(frontend: Frontend, sdk: OpenAI) -> None:
    sdk.images.generate(prompt="a green triangle", size="256x256", extra_body=FAST)
    with httpx.Client(base_url=frontend.url, headers=frontend.headers("alice")) as alice:
        newest = alice.get("/v1/images", params={"limit": 1}).json()["data"][0]["id"]
    body = {"images": [{"file_id": newest}], "prompt": "the same, in winter", "input_fidelity": "high"}
    edited = post_json_edit(sdk, body | FAST)
    assert edited.status_code == 200, edited.text
    assert edited.json()["size"] == "256x256"  # the stored image's own size
    # Another caller's id reads as absent (ids cannot be probed across owners).
    with pytest.raises(BadRequestError) as refused:
        post_json_edit(sdk_for(frontend, "bob"), body | FAST)
    assert_conforms("ErrorResponse", refused.value.response.json())
    assert refused.value.param == "images[0]" and "not found" in refused.value.message


def test_models_retrieve_answers_served_names_and_aliases(sdk: OpenAI, frontend: Frontend) -> None:
    listed = [model.id for model in sdk.models.list()]
    assert "dall-e-3" in listed and "gpt-image-1" in listed
    for name in listed:
        assert sdk.models.retrieve(name).id == name
        raw = sdk.models.with_raw_response.retrieve(name).http_response.json()
        assert_conforms("Model", raw)
    with pytest.raises(NotFoundError) as missing:
        sdk.models.retrieve("stable-diffusion-9")
    assert_conforms("ErrorResponse", missing.value.response.json())
    assert missing.value.code == "model_not_found"
