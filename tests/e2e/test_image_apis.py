"""/images/tti, /images/{id}, /v1/generate-image, keys, usage and every error code, through the real
frontend processes and the real tritonserver (tiny preset)."""

from __future__ import annotations

import base64
import io
import time
import zipfile
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from frontend.security.signed_urls import sign_image_url
from tests.e2e.conftest import URL_SECRET, Frontend, StaticFiles

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def alice(frontend: Frontend) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=frontend.url, headers=frontend.headers("alice"), timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def bob(frontend: Frontend) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=frontend.url, headers=frontend.headers("bob"), timeout=120) as client:
        yield client


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def tti(client: httpx.Client, **body) -> httpx.Response:
    return client.post("/images/tti", json={"prompt": "a red circle on a blue background", "seed": 1} | body)


def test_tti_single_image(alice: httpx.Client) -> None:
    response = tti(alice, size="512x512", style="watercolor", negative_prompt="text")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (512, 512)
    assert response.headers["x-seed"] == "1"
    stored = alice.get(f"/images/{response.headers['x-image-id']}")
    assert stored.content == response.content


def test_tti_count_3_zip(alice: httpx.Client) -> None:
    response = tti(alice, count=3, name="hero-banner", folder="marketing", seed=20)
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == ["hero-banner-1.png", "hero-banner-2.png", "hero-banner-3.png"]
    images = [pixels(archive.read(name)) for name in archive.namelist()]
    assert all(image.shape == (1024, 1024, 3) for image in images)
    assert not np.array_equal(images[0], images[1])
    assert response.headers["x-seed"] == "20,21,22"
    ids = response.headers["x-image-id"].split(",")
    assert alice.get(f"/images/{ids[2]}").content == archive.read("hero-banner-3.png")


def test_get_image_width_keeps_aspect(alice: httpx.Client) -> None:
    image_id = tti(alice, size="1792x1024").headers["x-image-id"]
    resized = alice.get(f"/images/{image_id}", params={"width": 896})
    assert Image.open(io.BytesIO(resized.content)).size == (896, 512)


def test_images_and_usage_belong_to_their_key(alice: httpx.Client, bob: httpx.Client) -> None:
    image_id = tti(alice, size="256x256").headers["x-image-id"]
    assert alice.get(f"/images/{image_id}").status_code == 200
    hidden = bob.get(f"/images/{image_id}")
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
    assert bob.post("/images/tti", json={"prompt": "x", "reference_images": [image_id]}).status_code == 400
    alice_usage = alice.get("/v1/usage").json()
    assert alice_usage["totals"]["requests"] >= 1
    assert {row["route"] for row in alice_usage["data"]} >= {"/images/tti"}
    assert bob.get("/v1/usage").json()["totals"]["images"] == 0


def test_missing_and_wrong_keys_are_401(frontend: Frontend) -> None:
    for headers in ({}, {"Authorization": "Bearer t2i-not-a-key"}, {"Authorization": "Basic abc"}):
        response = httpx.post(f"{frontend.url}/v1/generate-image", json={"prompt": "x"}, headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    token = httpx.get(f"{frontend.url}/v1/usage", headers={"Authorization": f"Token {frontend.keys['bob']}"})
    assert token.status_code == 200


def test_generate_image(alice: httpx.Client) -> None:
    body = alice.post(
        "/v1/generate-image", json={"prompt": "mountain landscape", "aspect_ratio": "4:3"}
    ).json()
    assert body["success"] is True and body["revised_prompt"] == "mountain landscape"
    assert isinstance(body["seed"], int) and body["request_id"]
    image = httpx.get(body["image_url"])
    assert image.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(image.content)).size == (1024, 768)
    again = alice.post(
        "/v1/generate-image",
        json={
            "prompt": "mountain landscape",
            "aspect_ratio": "4:3",
            "output_format": "png",
            "seed": body["seed"],
        },
    ).json()
    assert again["seed"] == body["seed"]
    upsampled = alice.post(
        "/v1/generate-image", json={"prompt": "mountain landscape", "prompt_upsampling": True}
    ).json()
    assert upsampled["revised_prompt"].startswith("mountain landscape, ")
    assert len(upsampled["revised_prompt"]) > len("mountain landscape") + 20


def test_moderation_tolerance_0_vs_6(alice: httpx.Client) -> None:
    prompt = {"prompt": "a nude figure study in charcoal"}
    refused = alice.post("/v1/generate-image", json=prompt | {"safety_tolerance": 0})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "content_policy_violation"
    assert alice.post("/v1/generate-image", json=prompt | {"safety_tolerance": 6}).status_code == 200
    always = alice.post("/v1/generate-image", json={"prompt": "nude child", "safety_tolerance": 6})
    assert always.status_code == 400 and always.json()["error"]["code"] == "content_policy_violation"


def png_bytes(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (64, 64), color)
    image.paste((255, 255, 255), (16, 16, 48, 48))
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def image_server(static_files: StaticFiles) -> str:
    static_files.add("reference.png", png_bytes((0, 160, 0)))
    return static_files.host


def test_references_change_the_output(alice: httpx.Client, image_server: str) -> None:
    plain = tti(alice, size="256x256", seed=5)
    data_uri = "data:image/png;base64," + base64.b64encode(png_bytes((200, 0, 0))).decode()
    by_data = tti(alice, size="256x256", seed=5, reference_images=[data_uri], reference_weight=0.8)
    assert by_data.status_code == 200
    assert np.abs(pixels(by_data.content) - pixels(plain.content)).mean() > 1
    image_id = plain.headers["x-image-id"]
    by_id = tti(alice, size="256x256", seed=5, reference_images=[image_id, data_uri])
    by_url = tti(alice, size="256x256", seed=5, reference_images=[f"http://{image_server}/reference.png"])
    assert by_id.status_code == 200 and by_url.status_code == 200
    assert not np.array_equal(pixels(by_url.content), pixels(by_data.content))
    # Only the configured host is let through: `localhost` resolves to loopback and is refused.
    port = image_server.split(":")[1]
    refused = tti(alice, reference_images=[f"http://localhost:{port}/reference.png"])
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "reference_images[0]"


def test_signed_url_expiry_is_410(alice: httpx.Client, frontend: Frontend) -> None:
    image_id = tti(alice, size="256x256").headers["x-image-id"]
    expired = sign_image_url(URL_SECRET.encode(), f"{image_id}.png", ttl_s=-10)
    response = httpx.get(f"{frontend.url}{expired}")
    assert response.status_code == 410 and response.json()["error"]["code"] == "expired"
    valid = sign_image_url(URL_SECRET.encode(), f"{image_id}.png", ttl_s=60)
    assert httpx.get(f"{frontend.url}{valid}").status_code == 200
    # The owner still has the image itself.
    assert alice.get(f"/images/{image_id}").status_code == 200


def test_styles_metrics_docs(alice: httpx.Client) -> None:
    assert len(alice.get("/v1/styles").json()["data"]) >= 10
    assert "t2i_images_generated_total" in alice.get("/metrics").text
    assert alice.get("/docs").status_code == 200


def test_413_504_429_on_the_strict_frontend(strict_frontend: Frontend) -> None:
    url = strict_frontend.url
    big = httpx.post(f"{url}/images/tti", json={"prompt": "x" * 5000})
    assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
    # 20 steps at 1024x1024 take longer than the 0.3 s deadline of this frontend.
    slow = httpx.post(f"{url}/v1/generate-image", json={"prompt": "x", "aspect_ratio": "1:1"}, timeout=60)
    assert slow.status_code == 504 and slow.json()["error"]["code"] == "timeout"
    codes = [
        httpx.post(f"{url}/v1/generate-image", json={"prompt": "x"}, timeout=60).status_code for _ in range(3)
    ]
    assert codes[-1] == 429
    limited = httpx.post(f"{url}/v1/generate-image", json={"prompt": "x"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_503_when_triton_is_away(orphan_frontend: Frontend) -> None:
    response = httpx.post(f"{orphan_frontend.url}/v1/generate-image", json={"prompt": "x"}, timeout=30)
    assert response.status_code == 503 and response.headers["retry-after"]
    assert response.json()["error"]["code"] == "backend_unavailable"
    ready = httpx.get(f"{orphan_frontend.url}/readyz", timeout=30)
    assert ready.status_code == 503
    assert httpx.get(f"{orphan_frontend.url}/healthz").status_code == 200
    started = time.monotonic()
    httpx.post(f"{orphan_frontend.url}/images/tti", json={"prompt": "x"}, timeout=30)
    assert time.monotonic() - started < 10  # fails fast, does not hang
