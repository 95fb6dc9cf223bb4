"""POST /v1/images/edits and /v1/images/variations, and generations' `image`, in front of a fake Triton
client, with the official SDK building the multipart bodies (its httpx client is the app's TestClient).
The end-to-end tier runs them against the real tritonserver."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from openai import BadRequestError, OpenAI
from PIL import Image

from frontend.api.openai.edits import VARIATION_PROMPT
from frontend.api.openai.image_inputs import (
    IMAGE_TO_IMAGE_STRENGTH,
    INPAINT_STRENGTH,
    INPUT_FIDELITY_STRENGTH,
    KEEP,
    REPAINT,
    VARIATION_STRENGTH,
)
from frontend.generation.sizing import generation_size
from tests.openai_spec import assert_conforms
from tests.unit.conftest import TINY, FakeTriton, make_client

RNG = np.random.default_rng(3)
IMAGE = RNG.integers(0, 256, (96, 128, 3), dtype=np.uint8)  # not the model's size, nor square
HOLE = (slice(20, 60), slice(30, 90))  # rows, columns the mask repaints


def png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, "PNG")
    return buffer.getvalue()


def mask_png(height: int = 96, width: int = 128) -> bytes:
    alpha = np.full((height, width), 255, dtype=np.uint8)
    alpha[HOLE] = 0
    return png(np.dstack([np.zeros((height, width, 3), np.uint8), alpha]), "RGBA")


def decode(b64: str | None) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64 or ""))))


@pytest.fixture
def sdk(client: TestClient) -> OpenAI:
    return OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="open", http_client=client, max_retries=0)


# --- /v1/images/edits ------------------------------------------------------------------------------


def test_edit_with_mask_inpaints_and_keeps_every_other_pixel(sdk: OpenAI, triton: FakeTriton) -> None:
    response = sdk.images.edit(
        image=("photo.png", png(IMAGE), "image/png"),
        mask=("mask.png", mask_png(), "image/png"),
        prompt="a red circle",
        n=2,
        response_format="b64_json",
        extra_body={"seed": 40},
    )
    (request,) = triton.requests
    assert np.array_equal(request.init_image, IMAGE) and request.strength == INPAINT_STRENGTH
    expected_mask = np.full((96, 128), KEEP, dtype=np.uint8)
    expected_mask[HOLE] = REPAINT
    assert request.mask is not None and np.array_equal(request.mask, expected_mask)
    # size `auto`: the image's own size, generated at the model's area with its aspect ratio.
    assert (request.width, request.height) == generation_size(128, 96, TINY)
    assert request.num_images == 2 and request.seed == 40
    assert [item.seed for item in response.data or []] == [40, 41]  # type: ignore[attr-defined]
    kept = expected_mask == KEEP
    for item, seed in zip(response.data or [], (40, 41), strict=True):
        result = decode(item.b64_json)
        assert result.shape == IMAGE.shape
        assert np.array_equal(result[kept], IMAGE[kept])  # the composite: exact, not approximately
        assert (result[~kept] == seed).all()  # the fake's pixels where the mask repaints


def test_edit_without_mask_is_image_to_image_at_the_requested_size(sdk: OpenAI, triton: FakeTriton) -> None:
    response = sdk.images.edit(
        image=("photo.png", png(IMAGE), "image/png"),
        prompt="a watercolor",
        size="512x512",
        quality="high",
        output_format="jpeg",
        response_format="b64_json",
    )
    (request,) = triton.requests
    assert request.mask is None and request.strength == IMAGE_TO_IMAGE_STRENGTH
    assert (request.width, request.height) == (256, 256) and request.steps == TINY.hd_steps
    item = (response.data or [])[0]
    picture = Image.open(io.BytesIO(base64.b64decode(item.b64_json or "")))
    assert picture.format == "JPEG" and picture.size == (512, 512)
    assert item.revised_prompt == "a watercolor"


def test_input_fidelity_quality_and_strength(sdk: OpenAI, triton: FakeTriton) -> None:
    image = ("photo.png", png(IMAGE), "image/png")
    sdk.images.edit(image=image, prompt="x", input_fidelity="high", quality="low")
    sdk.images.edit(image=image, prompt="x", input_fidelity="high", extra_body={"strength": 0.3, "steps": 7})
    high, override = triton.requests
    assert high.strength == INPUT_FIDELITY_STRENGTH["high"] and high.steps == TINY.default_steps // 2
    assert override.strength == 0.3 and override.steps == 7


def test_several_images_are_blended_without_a_mask(sdk: OpenAI, triton: FakeTriton) -> None:
    black, white = np.zeros((64, 64, 3), np.uint8), np.full((32, 48, 3), 255, np.uint8)
    images = [("a.png", png(black), "image/png"), ("b.png", png(white), "image/png")]
    sdk.images.edit(image=images, prompt="x", size="1024x1024")  # sent as image[], image[]
    (request,) = triton.requests
    assert request.init_image is not None and request.init_image.shape == (256, 256, 3)
    assert (request.init_image == 128).all()
    with pytest.raises(BadRequestError) as error:
        sdk.images.edit(image=images, prompt="x", mask=("m.png", mask_png(64, 64), "image/png"))
    assert error.value.param == "image" and "one image" in error.value.message


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"background": "transparent"}, "background"),
        ({"output_format": "webp"}, "output_format"),
        ({"output_compression": 80}, "output_compression"),
        ({"frame_count": 4}, "frame_count"),
        ({"markup": ("markup.png", png(IMAGE), "image/png")}, "markup"),
        ({"svg": {"model": "any"}}, "svg[model]"),
        ({"model": "no-such-model"}, "model"),
        ({"n": 5}, "n"),
        ({"size": "300x300"}, "size"),
        ({"quality": "ultra"}, "quality"),
        ({"prompt": "  "}, "prompt"),
        ({"extra_body": {"strength": 0}}, "strength"),
        ({"extra_body": {"steps": 500}}, "steps"),
    ],
)
def test_what_cannot_be_honoured_is_400_naming_it(
    sdk: OpenAI, triton: FakeTriton, fields: dict, param: str
) -> None:
    kwargs = {"image": ("photo.png", png(IMAGE), "image/png"), "prompt": "a cat"} | fields
    with pytest.raises(BadRequestError) as error:
        sdk.images.edit(**kwargs)
    assert error.value.status_code == 400 and error.value.code == "invalid_parameter"
    assert error.value.param == param and param.split("[")[0] in error.value.message
    assert triton.requests == []


def test_accepted_compatibility_fields(sdk: OpenAI, triton: FakeTriton) -> None:
    sdk.images.edit(
        image=("photo.png", png(IMAGE), "image/png"),
        prompt="x",
        background="opaque",
        complexity="low",
        stream=False,
        partial_images=0,
        user="u-1",
        safety_identifier="hash",
        model="tiny",
    )
    assert len(triton.requests) == 1


@pytest.mark.parametrize(
    ("files", "param", "message"),
    [
        ({"image": ("a.png", b"not an image")}, "image", "not a PNG, JPEG, WebP or GIF image"),
        ({"image": ("a.png", png(IMAGE)), "mask": ("m.png", mask_png(64, 64))}, "mask", "same size"),
        ({"image": ("a.png", png(IMAGE)), "mask": ("m.png", png(IMAGE))}, "mask", "alpha"),
        ({}, "image", "image is required"),
    ],
)
def test_bad_uploads_are_400_naming_the_field(
    client: TestClient, triton: FakeTriton, files: dict, param: str, message: str
) -> None:
    response = client.post("/v1/images/edits", data={"prompt": "x"}, files=files)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and message in error["message"]
    assert triton.requests == []


def test_one_bad_image_among_several_is_named_by_index(client: TestClient) -> None:
    files = [("image[]", ("a.png", png(IMAGE))), ("image[]", ("b.png", b"junk"))]
    error = client.post("/v1/images/edits", data={"prompt": "x"}, files=files).json()["error"]
    assert error["param"] == "image[1]"


def test_malformed_and_oversized_bodies(tmp_path: Path, triton: FakeTriton) -> None:
    with make_client(tmp_path, triton, max_body_bytes=4096) as client:
        broken = client.post(
            "/v1/images/edits", content=b"x", headers={"content-type": "multipart/form-data"}
        )
        assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_parameter"
        large = client.post("/v1/images/edits", data={"prompt": "x"}, files={"image": ("a.png", png(IMAGE))})
        assert large.status_code == 413 and large.json()["error"]["code"] == "payload_too_large"
    assert triton.requests == []


def test_edit_prompts_are_moderated(client: TestClient, triton: FakeTriton) -> None:
    response = client.post(
        "/v1/images/edits", data={"prompt": "nude child"}, files={"image": ("a.png", png(IMAGE))}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "content_policy_violation"
    assert triton.requests == []


def test_edit_url_response(sdk: OpenAI, client: TestClient) -> None:
    response = sdk.images.edit(image=("photo.png", png(IMAGE), "image/png"), prompt="x", size="256x256")
    url = (response.data or [])[0].url or ""
    fetched = client.get(url)
    assert fetched.status_code == 200 and Image.open(io.BytesIO(fetched.content)).size == (256, 256)


# --- the JSON body of /v1/images/edits (OpenAI's EditImageBodyJsonParam) ------------------------------


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def post_json(client: TestClient, **body: object) -> httpx.Response:
    return client.post("/v1/images/edits", json={"prompt": "a red circle"} | body)


def test_json_edit_by_data_uri_inpaints_as_the_multipart_one(client: TestClient, triton: FakeTriton) -> None:
    images = [{"image_url": data_uri(png(IMAGE))}]
    mask = {"image_url": data_uri(mask_png())}
    response = post_json(client, images=images, mask=mask, n=2, response_format="b64_json", seed=40)
    assert response.status_code == 200, response.text
    (request,) = triton.requests
    assert np.array_equal(request.init_image, IMAGE) and request.strength == INPAINT_STRENGTH
    expected_mask = np.full((96, 128), KEEP, dtype=np.uint8)
    expected_mask[HOLE] = REPAINT
    assert request.mask is not None and np.array_equal(request.mask, expected_mask)
    assert request.num_images == 2 and request.seed == 40 and request.prompt == "a red circle"
    body = response.json()
    assert_conforms("ImagesResponse", body | {"size": "1024x1024"})  # 128x96 is outside the spec's enum
    for item in body["data"]:
        assert np.array_equal(decode(item["b64_json"])[expected_mask == KEEP], IMAGE[expected_mask == KEEP])


def test_json_edit_by_file_id_reads_the_callers_stored_image(client: TestClient, triton: FakeTriton) -> None:
    generated = client.post("/v1/images/generations", json={"prompt": "a square", "size": "256x256"})
    assert generated.status_code == 200
    (stored,) = client.get("/v1/images").json()["data"]
    pixels = np.asarray(Image.open(io.BytesIO(client.get(f"/images/{stored['id']}").content)).convert("RGB"))
    response = post_json(client, images=[{"file_id": stored["id"]}], input_fidelity="high")
    assert response.status_code == 200, response.text
    request = triton.requests[-1]
    assert np.array_equal(request.init_image, pixels) and request.mask is None
    assert request.strength == INPUT_FIDELITY_STRENGTH["high"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"images": [{"image_url": data_uri(png(IMAGE)), "file_id": "0" * 32}]}, "images[0]"),
        ({"images": [{}]}, "images[0]"),
        ({"images": [{"url": "https://example.com/a.png"}]}, "images[0].url"),
        ({"images": []}, "images"),
        ({"images": [{"image_url": data_uri(png(IMAGE))}, {"image_url": data_uri(b"junk")}]}, "images[1]"),
        ({"images": [{"image_url": "data:image/png;base64,AAAA"}]}, "images[0]"),
        ({"images": [{"file_id": "0" * 32}]}, "images[0]"),  # no such stored image
        ({"images": [{"image_url": "http://10.0.0.1/a.png"}]}, "images[0]"),  # the reference SSRF rules
        ({"images": [{"image_url": "ftp://example.com/a.png"}]}, "images[0]"),
        (
            {"images": [{"image_url": data_uri(png(IMAGE))}], "mask": {"image_url": data_uri(png(IMAGE))}},
            "mask",
        ),
        (
            {
                "images": [{"image_url": data_uri(png(IMAGE))}] * 2,
                "mask": {"image_url": data_uri(mask_png())},
            },
            "images",
        ),
        ({"images": [{"image_url": data_uri(png(IMAGE))}], "n": "2"}, "n"),  # strict, as generations are
        ({"images": [{"image_url": data_uri(png(IMAGE))}], "prompt": ""}, "prompt"),
        ({"images": [{"image_url": data_uri(png(IMAGE))}], "output_format": "webp"}, "output_format"),
    ],
)
def test_json_edit_errors_name_the_field(
    client: TestClient, triton: FakeTriton, body: dict[str, object], param: str
) -> None:
    response = post_json(client, **body)
    assert response.status_code == 400, response.text
    assert_conforms("ErrorResponse", response.json())
    assert response.json()["error"]["param"] == param
    assert triton.requests == []


def test_json_edit_nulls_mean_the_defaults(client: TestClient, triton: FakeTriton) -> None:
    images = [{"image_url": data_uri(png(IMAGE))}]
    nulls = {"n": None, "size": None, "quality": None, "output_format": None, "stream": None}
    response = post_json(client, images=images, **nulls)
    assert response.status_code == 200, response.text
    assert triton.requests[-1].num_images == 1 and response.json()["output_format"] == "png"


# --- /v1/images/variations -------------------------------------------------------------------------


def test_variations_are_image_to_image_under_a_neutral_prompt(sdk: OpenAI, triton: FakeTriton) -> None:
    response = sdk.images.create_variation(
        image=("photo.png", png(IMAGE), "image/png"),
        n=3,
        size="512x512",
        response_format="b64_json",
        user="u-1",
        extra_body={"seed": 9},
    )
    (request,) = triton.requests
    assert request.prompt == VARIATION_PROMPT and request.strength == VARIATION_STRENGTH
    assert np.array_equal(request.init_image, IMAGE) and request.mask is None and request.num_images == 3
    data = response.data or []
    assert [decode(item.b64_json).shape for item in data] == [(512, 512, 3)] * 3
    assert [item.seed for item in data] == [9, 10, 11]  # type: ignore[attr-defined]


def test_variation_defaults_and_errors(sdk: OpenAI, client: TestClient, triton: FakeTriton) -> None:
    default = sdk.images.create_variation(
        image=("a.png", png(IMAGE), "image/png"), response_format="b64_json"
    )
    assert decode((default.data or [])[0].b64_json).shape == (1024, 1024, 3)  # the spec's default size
    for data, files, param in (
        ({"n": "0"}, {"image": ("a.png", png(IMAGE))}, "n"),
        ({"size": "100x100"}, {"image": ("a.png", png(IMAGE))}, "size"),
        ({}, {"image": ("a.png", b"junk")}, "image"),
        ({}, {}, "image"),
    ):
        response = client.post("/v1/images/variations", data=data, files=files)
        assert response.status_code == 400 and response.json()["error"]["param"] == param, response.text
    assert len(triton.requests) == 1


# --- `image` on /v1/images/generations ------------------------------------------------------------


def test_generation_image_field_is_image_to_image(client: TestClient, triton: FakeTriton) -> None:
    uri = "data:image/png;base64," + base64.b64encode(png(IMAGE)).decode()
    body = {"prompt": "x", "image": uri, "size": "512x512", "response_format": "b64_json"}
    response = client.post("/v1/images/generations", json=body)
    assert response.status_code == 200, response.text
    (request,) = triton.requests
    assert request.init_image is not None and request.init_image.shape == (256, 256, 3)
    assert request.strength == pytest.approx(IMAGE_TO_IMAGE_STRENGTH)


@pytest.mark.parametrize(
    "image", ["data:image/png;base64,!!!", "http://10.0.0.1/cat.png", "ftp://example.com/cat.png", "0" * 32]
)
def test_generation_image_errors_name_image(client: TestClient, triton: FakeTriton, image: str) -> None:
    response = client.post("/v1/images/generations", json={"prompt": "x", "image": image})
    assert response.status_code == 400 and response.json()["error"]["param"] == "image"
    assert triton.requests == []
