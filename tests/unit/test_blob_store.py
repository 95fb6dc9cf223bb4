"""T2I_BLOB_STORE_URL: which store each form opens, the one-line errors, readiness of the local store.
(The S3 store against a real server: tests/services/test_s3_blob_store.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from frontend.settings import Settings
from frontend.storage.blobs import (
    FileBlobStore,
    open_blob_store,
    parse_blob_store_url,
)
from frontend.storage.s3_blobs import S3BlobStore, S3Location
from tests.unit.conftest import FakeTriton, make_client

DEFAULT = Path("/data/images")


@pytest.mark.parametrize(
    ("url", "location"),
    [
        (None, DEFAULT),
        ("file:///srv/t2i/images", Path("/srv/t2i/images")),
        ("file://localhost/srv/t2i", Path("/srv/t2i")),
        ("file:///srv/with%20space/", Path("/srv/with space")),
        ("s3://bucket", S3Location("bucket", "")),
        ("s3://bucket/", S3Location("bucket", "")),
        ("s3://my.bucket-1/images", S3Location("my.bucket-1", "images")),
        ("s3://bucket//t2i/images/", S3Location("bucket", "t2i/images")),
    ],
)
def test_each_url_form_names_its_store(url: str | None, location: Path | S3Location) -> None:
    assert parse_blob_store_url(url, DEFAULT) == location


@pytest.mark.parametrize(
    "url",
    [
        "images",  # a bare path
        "/srv/images",
        "file:images",  # relative
        "file://otherhost/srv",  # a remote file URL
        "s3://",
        "s3:///images",  # no bucket
        "s3://key:secret@bucket/images",  # credentials belong to boto3's chain
        "s3://bucket:9000/images",  # the endpoint is T2I_S3_ENDPOINT_URL
        "s3://bucket/images?region=eu",
        "gs://bucket/images",
        "http://127.0.0.1:8333/bucket",
    ],
)
def test_a_bad_url_is_one_line_naming_the_setting_and_the_forms(url: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_blob_store_url(url, DEFAULT)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"T2I_BLOB_STORE_URL={url!r}")
    assert "file:///" in message and "s3://bucket" in message


def test_a_bad_s3_endpoint_names_its_setting(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, blob_store_url="s3://bucket", s3_endpoint_url="127.0.0.1:8333")
    with pytest.raises(ValueError, match=r"^T2I_S3_ENDPOINT_URL='127.0.0.1:8333' .*http\(s\)://"):
        open_blob_store(settings)


def test_open_blob_store_opens_the_named_store(tmp_path: Path) -> None:
    default = open_blob_store(Settings(data_dir=tmp_path))
    assert isinstance(default, FileBlobStore) and default.root == tmp_path / "images"
    # An empty variable (a template passing an unset one through) is unset.
    empty = Settings(data_dir=tmp_path, blob_store_url="", s3_endpoint_url="", redis_url="")
    assert (empty.blob_store_url, empty.s3_endpoint_url, empty.redis_url) == (None, None, None)
    elsewhere = open_blob_store(Settings(data_dir=tmp_path, blob_store_url=f"file://{tmp_path}/blobs"))
    assert isinstance(elsewhere, FileBlobStore) and elsewhere.root == tmp_path / "blobs"
    # Opening reaches no server: the client is made, the bucket first asked by ready().
    s3 = open_blob_store(
        Settings(data_dir=tmp_path, blob_store_url="s3://t2i/images", s3_endpoint_url="http://127.0.0.1:9")
    )
    assert isinstance(s3, S3BlobStore) and s3.location == S3Location("t2i", "images")
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:9"
    assert s3.location.object_key("ab.png") == "images/ab.png"
    assert S3Location("t2i").object_key("ab.png") == "ab.png"


def test_the_file_store_is_ready_while_its_directory_is_writable(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "images")
    store.put("a.png", b"png")
    assert store.read("a.png") == b"png" and store.read("b.png") is None
    assert store.ready()
    (tmp_path / "images" / "a.png").unlink()
    (tmp_path / "images").rmdir()
    assert not store.ready()


def test_an_unreachable_s3_store_is_not_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unused")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unused")
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    store = open_blob_store(
        Settings(data_dir=tmp_path, blob_store_url="s3://t2i", s3_endpoint_url="http://127.0.0.1:9")
    )
    assert store.ready() is False


def test_the_app_keeps_image_bytes_where_the_url_says(tmp_path: Path, triton: FakeTriton) -> None:
    blobs = tmp_path / "elsewhere"
    with make_client(tmp_path / "data", triton, blob_store_url=f"file://{blobs}") as client:
        image_id = client.post("/images/tti", json={"prompt": "x"}).headers["x-image-id"]
        assert client.get(f"/images/{image_id}").status_code == 200
    assert [path.name for path in blobs.iterdir()] == [f"{image_id}.png"]
    assert not (tmp_path / "data" / "images").exists()


def test_the_app_refuses_to_start_on_a_bad_url(tmp_path: Path, triton: FakeTriton) -> None:
    with (
        pytest.raises(ValueError, match="^T2I_BLOB_STORE_URL='ftp://x'"),
        make_client(tmp_path, triton, blob_store_url="ftp://x"),
    ):
        pass
