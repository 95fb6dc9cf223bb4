"""The /images/tti, /images/{id}, /v1/generate-image, usage, styles, keys and limits routes, in front of a
fake Triton client. The end-to-end tier repeats the essentials against the real tritonserver."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from frontend.storage.database import open_database
from frontend.storage.keys import KeyStore
from tests.unit.conftest import TINY, FakeTriton, make_client


def png_data_uri(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def create_keys(data_dir: Path, *names: str) -> list[str]:
    db = open_database(data_dir)
    secrets = [KeyStore(db).create(name)[1] for name in names]
    db.close()
    return secrets


def auth(secret: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {secret}"}


# --- POST /images/tti and GET /images/{id} ---------------------------------------------------------


def test_tti_single_image_with_headers(client: TestClient, triton: FakeTriton) -> None:
    response = client.post("/images/tti", json={"prompt": "a lighthouse", "seed": 7, "size": "1536x1024"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (1536, 1024)
    assert response.headers["x-seed"] == "7" and len(response.headers["x-image-id"]) == 32
    request = triton.requests[0]
    # The default style is `realistic`: its template, negative additions and guidance.
    assert request.prompt.startswith("a lighthouse, photorealistic")
    assert "blurry" in request.negative_prompt and request.guidance_scale == 7.5


def test_tti_count_3_is_a_zip_named_from_name(client: TestClient) -> None:
    body = {"prompt": "a star", "count": 3, "name": "hero-banner", "folder": "marketing", "seed": 10}
    response = client.post("/images/tti", json=body)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    ids = response.headers["x-image-id"].split(",")
    assert len(ids) == 3 and response.headers["x-seed"] == "10,11,12"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == ["hero-banner-1.png", "hero-banner-2.png", "hero-banner-3.png"]
    pixels = [np.asarray(Image.open(archive.open(n)))[0, 0, 0] for n in archive.namelist()]
    assert pixels == [10, 11, 12]
    stored = client.get(f"/images/{ids[1]}")
    assert stored.status_code == 200 and stored.headers["x-seed"] == "11"


def test_get_image_resizes_keeping_aspect_ratio(client: TestClient) -> None:
    image_id = client.post("/images/tti", json={"prompt": "x", "size": "1792x1024"}).headers["x-image-id"]
    resized = client.get(f"/images/{image_id}", params={"width": 448})
    assert Image.open(io.BytesIO(resized.content)).size == (448, 256)
    assert client.get(f"/images/{image_id}", params={"width": 0}).status_code == 400
    missing = client.get(f"/images/{'0' * 32}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "../etc/passwd"}, "name"),
        ({"name": "a/b"}, "name"),
        ({"folder": ".."}, "folder"),
        ({"folder": "x..y"}, "folder"),
        ({"name": "bad\nname"}, "name"),
        ({"count": 5}, "count"),
        ({"reference_weight": 1.5}, "reference_weight"),
        ({"reference_images": ["data:,x"] * 5}, "reference_images"),
        ({"style": "baroque"}, "style"),
        ({"provider": "openai"}, "provider"),
        ({"size": "100x100"}, "size"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_tti_bad_input(client: TestClient, triton: FakeTriton, body: dict, param: str) -> None:
    response = client.post("/images/tti", json={"prompt": "x"} | body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert triton.requests == []


def test_reference_image_becomes_the_init_image(client: TestClient, triton: FakeTriton) -> None:
    body = {"prompt": "x", "reference_images": [png_data_uri((255, 0, 0)), png_data_uri((0, 0, 255))]}
    assert client.post("/images/tti", json=body | {"reference_weight": 0.8}).status_code == 200
    request = triton.requests[0]
    assert request.init_image is not None and request.init_image.shape == (256, 256, 3)
    assert tuple(request.init_image[0, 0]) == (128, 0, 128)  # the two references blended
    assert request.strength == pytest.approx(0.2)


def test_reference_by_id_only_for_its_owner(tmp_path: Path, triton: FakeTriton) -> None:
    alice, bob = create_keys(tmp_path, "alice", "bob")
    with make_client(tmp_path, triton) as client:
        image_id = client.post("/images/tti", json={"prompt": "x"}, headers=auth(alice)).headers["x-image-id"]
        own = client.post(
            "/images/tti", json={"prompt": "y", "reference_images": [image_id]}, headers=auth(alice)
        )
        assert own.status_code == 200
        other = client.post(
            "/images/tti", json={"prompt": "y", "reference_images": [image_id]}, headers=auth(bob)
        )
        assert other.status_code == 400 and other.json()["error"]["param"] == "reference_images[0]"


def test_bad_and_private_references_are_refused(client: TestClient, triton: FakeTriton) -> None:
    bad = client.post("/images/tti", json={"prompt": "x", "reference_images": ["data:image/png;base64,!!"]})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "reference_images[0]"
    local = client.post("/images/tti", json={"prompt": "x", "reference_images": ["http://127.0.0.1:9/a.png"]})
    assert local.status_code == 400 and local.json()["error"]["param"] == "reference_images[0]"
    assert triton.requests == []


# --- POST /v1/generate-image -------------------------------------------------------------------------


def test_generate_image_defaults(client: TestClient, triton: FakeTriton) -> None:
    response = client.post("/v1/generate-image", json={"prompt": "mountain landscape"})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and len(body["request_id"]) == 32
    assert 0 <= body["seed"] <= 4294967295 and body["revised_prompt"] == "mountain landscape"
    image = client.get(body["image_url"])
    assert image.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(image.content)).size == (1920, 1080)  # 16:9 by default
    assert triton.requests[0].prompt == "mountain landscape"  # upsampling off changes nothing


@pytest.mark.parametrize(
    ("ratio", "size"),
    [
        ("1:1", (1024, 1024)),
        ("9:16", (1080, 1920)),
        ("4:3", (1024, 768)),
        ("3:4", (768, 1024)),
        ("21:9", (2560, 1080)),
        ("9:21", (1080, 2560)),
    ],
)
def test_generate_image_aspect_ratios(client: TestClient, ratio: str, size: tuple[int, int]) -> None:
    body = client.post(
        "/v1/generate-image", json={"prompt": "x", "aspect_ratio": ratio, "output_format": "png", "seed": 5}
    ).json()
    assert body["seed"] == 5
    image = Image.open(io.BytesIO(client.get(body["image_url"]).content))
    assert image.format == "PNG" and image.size == size


def test_prompt_upsampling_is_deterministic_and_keeps_the_subject(client: TestClient) -> None:
    first, second = (
        client.post(
            "/v1/generate-image", json={"prompt": "mountain landscape", "prompt_upsampling": True}
        ).json()
        for _ in range(2)
    )
    assert first["revised_prompt"] == second["revised_prompt"]
    assert first["revised_prompt"].startswith("mountain landscape, ")
    assert "lighting" in first["revised_prompt"] and "detailed" in first["revised_prompt"]


def test_moderation_follows_safety_tolerance(client: TestClient, triton: FakeTriton) -> None:
    strict = client.post("/v1/generate-image", json={"prompt": "a nude figure study", "safety_tolerance": 0})
    assert strict.status_code == 400 and strict.json()["error"]["code"] == "content_policy_violation"
    permissive = client.post(
        "/v1/generate-image", json={"prompt": "a nude figure study", "safety_tolerance": 6}
    )
    assert permissive.status_code == 200
    illegal = client.post("/v1/generate-image", json={"prompt": "nude child", "safety_tolerance": 6})
    assert illegal.status_code == 400 and illegal.json()["error"]["code"] == "content_policy_violation"
    assert len(triton.requests) == 1


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": "x" * 2001}, "prompt"),
        ({"aspect_ratio": "2:1"}, "aspect_ratio"),
        ({"output_format": "gif"}, "output_format"),
        ({"seed": 4294967296}, "seed"),
        ({"safety_tolerance": 7}, "safety_tolerance"),
        ({"prompt_upsampling": "yes"}, "prompt_upsampling"),
    ],
)
def test_generate_image_bad_input(client: TestClient, body: dict, param: str) -> None:
    response = client.post("/v1/generate-image", json={"prompt": "x"} | body)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


# --- keys, isolation, usage, limits ------------------------------------------------------------------


def test_keys_bearer_token_and_revocation(tmp_path: Path, triton: FakeTriton) -> None:
    (secret,) = create_keys(tmp_path, "ci")
    with make_client(tmp_path, triton) as client:
        body = {"prompt": "x"}
        assert client.post("/v1/generate-image", json=body).json()["error"]["code"] == "invalid_api_key"
        assert client.post("/v1/generate-image", json=body, headers=auth("t2i-wrong")).status_code == 401
        assert client.post("/v1/generate-image", json=body, headers=auth(secret)).status_code == 200
        assert client.post("/v1/generate-image", json=body, headers=auth(secret, "Token")).status_code == 200
        assert client.post("/v1/generate-image", json=body, headers=auth(secret, "Basic")).status_code == 401
        db = open_database(tmp_path)
        keys = KeyStore(db)
        (key,) = keys.list()
        assert keys.revoke(key.id)
        db.close()
        revoked = client.post("/v1/generate-image", json=body, headers=auth(secret))
        assert revoked.status_code == 401 and revoked.headers["www-authenticate"] == "Bearer"


def test_only_hashes_are_stored(tmp_path: Path) -> None:
    (secret,) = create_keys(tmp_path, "ci")
    assert secret.encode() not in (tmp_path / "t2i.sqlite3").read_bytes()


def test_images_and_usage_are_private_to_their_key(tmp_path: Path, triton: FakeTriton) -> None:
    alice, bob = create_keys(tmp_path, "alice", "bob")
    with make_client(tmp_path, triton, price_table={"tiny": 0.001}) as client:
        image_id = (
            client.post("/images/tti", json={"prompt": "x", "count": 2}, headers=auth(alice))
            .headers["x-image-id"]
            .split(",")[0]
        )
        assert client.get(f"/images/{image_id}", headers=auth(alice)).status_code == 200
        assert client.get(f"/images/{image_id}", headers=auth(bob)).status_code == 404
        usage = client.get("/v1/usage", headers=auth(alice)).json()
        (row,) = usage["data"]
        assert row["route"] == "/images/tti" and row["count"] == 2 and row["model"] == "tiny"
        assert row["steps"] == TINY.default_steps and row["image_size"] == "1024x1024"
        # 0.001 per megapixel-step x 0.065536 MP (generated at 256x256) x 20 steps x 2 images
        assert row["cost"] == round(0.001 * 0.065536 * 20 * 2, 6)  # costs are kept to 6 decimals
        assert usage["totals"]["requests"] == 1 and usage["totals"]["images"] == 2
        assert client.get("/v1/usage", headers=auth(bob)).json()["totals"]["requests"] == 0


def test_image_list_is_the_callers_own_newest_first(tmp_path: Path, triton: FakeTriton) -> None:
    alice, bob = create_keys(tmp_path, "alice", "bob")
    with make_client(tmp_path, triton) as client:
        for seed, prompt in ((5, "first"), (9, "second")):
            body = {"prompt": prompt, "size": "256x192", "n": 2, "seed": seed}
            assert client.post("/v1/images/generations", json=body, headers=auth(alice)).status_code == 200
        client.post("/v1/images/generations", json={"prompt": "bob's"}, headers=auth(bob))
        listing = client.get("/v1/images", params={"limit": 3}, headers=auth(alice)).json()
        assert listing["object"] == "list"
        assert [(i["prompt"], i["seed"]) for i in listing["data"]] == [
            ("second", 10),
            ("second", 9),
            ("first", 6),
        ]
        newest = listing["data"][0]
        assert (newest["size"], newest["output_format"], newest["model"]) == ("256x192", "png", "tiny")
        # The signed link serves the file without the key (an <img> cannot send one).
        file = client.get(newest["url"])
        assert file.status_code == 200 and file.headers["content-type"] == "image/png"
        assert client.get(f"/images/{newest['id']}", headers=auth(alice)).content == file.content
        assert [i["prompt"] for i in client.get("/v1/images", headers=auth(bob)).json()["data"]] == ["bob's"]
        assert client.get("/v1/images").status_code == 401
        refused = client.get("/v1/images", params={"limit": 0}, headers=auth(alice))
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "limit"


def test_rate_limit_per_key(tmp_path: Path, triton: FakeTriton) -> None:
    with make_client(tmp_path, triton, rate_limit_per_minute=2) as client:
        codes = [client.post("/v1/generate-image", json={"prompt": "x"}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = client.post("/v1/generate-image", json={"prompt": "x"})
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"
        assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_expired_url_is_410(tmp_path: Path, triton: FakeTriton) -> None:
    with make_client(tmp_path, triton, url_ttl_s=-1) as client:
        url = client.post("/v1/generate-image", json={"prompt": "x"}).json()["image_url"]
        expired = client.get(url)
        assert expired.status_code == 410 and expired.json()["error"]["code"] == "expired"


def test_body_over_the_limit_is_413(tmp_path: Path, triton: FakeTriton) -> None:
    with make_client(tmp_path, triton, max_body_bytes=1000) as client:
        response = client.post("/images/tti", json={"prompt": "x" * 2000})
        assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"

        def chunks(total: int):  # no Content-Length: sent with Transfer-Encoding: chunked
            yield b'{"prompt": "'
            yield b"x" * total
            yield b'"}'

        headers = {"content-type": "application/json"}
        chunked = client.post("/images/tti", content=chunks(5000), headers=headers)
        assert chunked.status_code == 413
        small = client.post("/images/tti", content=chunks(10), headers=headers)
        assert small.status_code == 200
    assert len(triton.requests) == 1


def test_styles_usage_metrics_and_docs(client: TestClient) -> None:
    names = [s["name"] for s in client.get("/v1/styles").json()["data"]]
    for name in (
        "realistic",
        "natural",
        "vivid",
        "cinematic",
        "anime",
        "digital-art",
        "oil-painting",
        "watercolor",
        "sketch",
        "3d-render",
    ):
        assert name in names
    client.post("/v1/generate-image", json={"prompt": "x"})
    metrics = client.get("/metrics").text
    assert 't2i_images_generated_total{model="tiny",route="/v1/generate-image"} 1.0' in metrics
    assert "t2i_http_requests_total" in metrics
    schema = client.get("/openapi.json").json()
    for path in ("/v1/images/generations", "/images/tti", "/v1/generate-image"):
        request_schema = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        name = request_schema["$ref"].split("/")[-1]
        assert schema["components"]["schemas"][name]["examples"], path
    assert client.get("/docs").status_code == 200


def test_reference_over_the_byte_cap_is_413(tmp_path: Path, triton: FakeTriton) -> None:
    with make_client(tmp_path, triton, reference_max_bytes=1000) as client:
        noisy = io.BytesIO()  # 64x64 of noise: ~12 KB of PNG, over the 1000-byte cap
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
            noisy, "PNG"
        )
        big = "data:image/png;base64," + base64.b64encode(noisy.getvalue()).decode()
        response = client.post("/images/tti", json={"prompt": "x", "reference_images": [big]})
        assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
        assert response.json()["error"]["param"] == "reference_images[0]"
        assert triton.requests == []
