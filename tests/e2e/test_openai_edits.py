"""POST /v1/images/edits and /v1/images/variations, and `image` on generations, through the real frontend
and the real tritonserver (tiny preset), with the official SDK as the client."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from openai import BadRequestError, OpenAI
from PIL import Image

from tests.e2e.conftest import Frontend

pytestmark = pytest.mark.e2e
FAST = {"steps": 4}  # few denoising steps: these tests check plumbing and pixels kept, not image quality
SIZE = 256  # the tiny model's native side: the edit's output is the image's own size


def png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, "PNG")
    return buffer.getvalue()


def decode(b64: str | None) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64 or ""))).convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def sdk(frontend: Frontend) -> OpenAI:
    return OpenAI(base_url=f"{frontend.url}/v1", api_key=frontend.keys["alice"], max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    """Detail everywhere (a gradient and stripes), so a resize or a VAE round trip would show."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    pixels = np.stack([x, y, (x // 8 % 2) * 255], axis=-1)
    return pixels.astype(np.uint8)


def test_edit_with_mask_keeps_every_pixel_outside_it(sdk: OpenAI, picture: np.ndarray) -> None:
    alpha = np.full((SIZE, SIZE), 255, dtype=np.uint8)
    alpha[64:192, 80:176] = 0  # repaint here
    response = sdk.images.edit(
        image=("picture.png", png(picture), "image/png"),
        mask=("mask.png", png(np.dstack([picture, alpha]), "RGBA"), "image/png"),
        prompt="a red circle on a blue background",
        response_format="b64_json",
        extra_body={"seed": 11, **FAST},
    )
    (item,) = response.data or []
    result = decode(item.b64_json)
    assert result.shape == (SIZE, SIZE, 3)
    kept, repainted = alpha == 255, alpha == 0
    difference = np.abs(result - picture.astype(int))
    assert difference[kept].mean() <= 2
    assert np.array_equal(result[kept], picture[kept])  # the full-resolution composite: exact
    assert difference[repainted].mean() > 10  # repainted, not copied


def test_edit_without_mask_is_image_to_image_of_the_requested_size(sdk: OpenAI, picture: np.ndarray) -> None:
    image = ("picture.png", png(picture), "image/png")
    response = sdk.images.edit(
        image=image, prompt="a yellow star", size="512x512", response_format="b64_json", extra_body=FAST
    )
    (item,) = response.data or []
    result = decode(item.b64_json)
    assert result.shape == (512, 512, 3)
    upscaled = np.asarray(Image.fromarray(picture).resize((512, 512), Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(result - upscaled).mean() > 2  # redrawn, not merely resized


def test_variations_are_n_different_images_of_the_requested_size(sdk: OpenAI, picture: np.ndarray) -> None:
    response = sdk.images.create_variation(
        image=("picture.png", png(picture), "image/png"),
        n=2,
        size="256x256",
        response_format="b64_json",
        extra_body=FAST,
    )
    first, second = (decode(item.b64_json) for item in response.data or [])
    assert first.shape == second.shape == (256, 256, 3)
    assert not np.array_equal(first, second)


def test_mask_of_another_size_is_400_naming_mask(sdk: OpenAI, picture: np.ndarray) -> None:
    small = np.zeros((SIZE // 2, SIZE // 2, 4), dtype=np.uint8)
    with pytest.raises(BadRequestError) as error:
        sdk.images.edit(
            image=("picture.png", png(picture), "image/png"),
            mask=("mask.png", png(small, "RGBA"), "image/png"),
            prompt="a cat",
        )
    assert error.value.status_code == 400 and error.value.param == "mask"
    assert "same size" in error.value.message


def test_generation_with_an_image_starts_from_it(sdk: OpenAI, picture: np.ndarray) -> None:
    uri = "data:image/png;base64," + base64.b64encode(png(picture)).decode()

    def generate(**extra: object) -> np.ndarray:
        response = sdk.images.generate(
            prompt="a small yellow star",
            size="256x256",
            response_format="b64_json",
            extra_body={"seed": 5, **FAST, **extra},
        )
        return decode((response.data or [])[0].b64_json)

    plain, modified = generate(), generate(image=uri)
    assert modified.shape == (256, 256, 3) and not np.array_equal(plain, modified)
    with pytest.raises(BadRequestError) as error:
        generate(image="data:image/png;base64,AAAA")
    assert error.value.param == "image"


def test_edit_streams_image_edit_events(sdk: OpenAI, picture: np.ndarray) -> None:
    """stream=True on an edit: the spec's image_edit.* events, read with the SDK's own types; the completed
    image keeps the pixels outside the mask exactly, as without streaming."""
    from openai.types import ImageEditCompletedEvent, ImageEditPartialImageEvent

    alpha = np.full((SIZE, SIZE), 255, dtype=np.uint8)
    alpha[:, 128:] = 0
    stream = sdk.images.edit(
        image=("picture.png", png(picture), "image/png"),
        mask=("mask.png", png(np.dstack([picture, alpha]), "RGBA"), "image/png"),
        prompt="a green square",
        stream=True,
        partial_images=2,
        extra_body={"seed": 3, **FAST},
    )
    events = list(stream)
    assert [type(e) for e in events] == [ImageEditPartialImageEvent] * 2 + [ImageEditCompletedEvent]
    completed = events[-1]
    assert isinstance(completed, ImageEditCompletedEvent)
    result = decode(completed.b64_json)
    assert np.array_equal(result[alpha == 255], picture[alpha == 255])
