"""Image bytes in a real S3-compatible store (SeaweedFS in the test bed; any other through the env)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from frontend.settings import Settings
from frontend.storage.blobs import open_blob_store
from frontend.storage.s3_blobs import S3BlobStore, S3Location, s3_client
from tests.services.conftest import S3Endpoint
from tests.unit.conftest import FakeTriton, make_client

pytestmark = pytest.mark.services


def open_s3_store(endpoint: S3Endpoint, tmp_path: Path) -> S3BlobStore:
    settings = Settings(
        data_dir=tmp_path, blob_store_url=endpoint.blob_store_url, s3_endpoint_url=endpoint.endpoint_url
    )
    store = open_blob_store(settings)
    assert isinstance(store, S3BlobStore)
    return store


def test_put_then_read_under_the_prefix(s3_endpoint: S3Endpoint, tmp_path: Path) -> None:
    store = open_s3_store(s3_endpoint, tmp_path)
    assert store.ready()
    store.put("a1.png", b"\x89PNG one")
    store.put("a1.png", b"\x89PNG two")  # a key written again holds the last bytes
    store.put("b2.webp", b"RIFF webp")
    assert store.read("a1.png") == b"\x89PNG two" and store.read("b2.webp") == b"RIFF webp"
    assert store.read("absent.png") is None
    client = s3_client(s3_endpoint.endpoint_url)
    bucket, prefix = s3_endpoint.location.bucket, s3_endpoint.location.prefix
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    assert sorted(item["Key"] for item in listed["Contents"]) == [f"{prefix}/a1.png", f"{prefix}/b2.webp"]
    assert client.head_object(Bucket=bucket, Key=f"{prefix}/a1.png")["ContentType"] == "image/png"
    assert client.head_object(Bucket=bucket, Key=f"{prefix}/b2.webp")["ContentType"] == "image/webp"


def test_a_missing_bucket_is_not_ready(s3_endpoint: S3Endpoint) -> None:
    client = s3_client(s3_endpoint.endpoint_url)
    assert not S3BlobStore(S3Location(f"t2i-absent-{uuid.uuid4().hex[:12]}"), client).ready()


def test_errors_other_than_a_missing_key_raise(
    s3_endpoint: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wrong credentials must not look like an absent image (a 404 that hides an outage)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "t2i-wrong-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "t2i-wrong-secret")
    store = open_s3_store(s3_endpoint, tmp_path)
    with pytest.raises(ClientError):
        store.read("a1.png")
    with pytest.raises(ClientError):
        store.put("a1.png", b"png")
    assert not store.ready()


def test_the_app_stores_and_serves_images_from_s3(s3_endpoint: S3Endpoint, tmp_path: Path) -> None:
    settings = {"blob_store_url": s3_endpoint.blob_store_url, "s3_endpoint_url": s3_endpoint.endpoint_url}
    with make_client(tmp_path, FakeTriton(), **settings) as client:
        generated = client.post("/v1/generate-image", json={"prompt": "x"})
        assert generated.status_code == 200
        image_id = generated.json()["image_url"].split("/files/")[1].split(".")[0]
        signed = client.get(generated.json()["image_url"])
        assert signed.status_code == 200 and signed.headers["content-type"] == "image/jpeg"
        owned = client.get(f"/images/{image_id}")
        assert owned.content == signed.content
    stored = s3_client(s3_endpoint.endpoint_url).get_object(
        Bucket=s3_endpoint.location.bucket, Key=s3_endpoint.location.object_key(f"{image_id}.jpeg")
    )
    assert stored["Body"].read() == signed.content
    assert not (tmp_path / "images").exists()  # nothing written locally
