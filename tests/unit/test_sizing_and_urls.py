from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from frontend.generation.sizing import generation_size, parse_size, resize_exact
from frontend.http.errors import Expired, NotFound
from frontend.security.signed_urls import check_signature, sign_image_url
from frontend.settings import Settings
from frontend.storage.blobs import open_blob_store
from frontend.storage.database import open_database
from frontend.storage.images import ImageRecord, image_store
from t2i.contract import ModelMetadata

TINY = ModelMetadata("tiny", 256, 256, 16, 4, 8, 0.18215, 32, 77, 20, 40, 7.5)
SD15 = ModelMetadata("sd15", 512, 512, 64, 4, 8, 0.18215, 768, 77, 30, 50, 7.5)


def test_width_comes_first() -> None:
    assert parse_size("1536x1024", TINY) == (1536, 1024)
    assert parse_size("auto", SD15) == (512, 512)


@pytest.mark.parametrize("metadata", [TINY, SD15], ids=["tiny", "sd15"])
@pytest.mark.parametrize("size", ["256x256", "1024x1024", "1792x1024", "1024x1792", "1536x1024", "1024x1536"])
def test_generation_keeps_native_area_and_aspect(metadata: ModelMetadata, size: str) -> None:
    width, height = parse_size(size, metadata)
    gen_w, gen_h = generation_size(width, height, metadata)
    assert gen_w % metadata.size_multiple == 0 and gen_h % metadata.size_multiple == 0
    native_area = metadata.native_width * metadata.native_height
    assert abs(gen_w * gen_h / native_area - 1) < 0.3
    assert (gen_w > gen_h) == (width > height) and (gen_w == gen_h) == (width == height)


def test_resize_gives_exact_pixels() -> None:
    image = np.zeros((192, 336, 3), dtype=np.uint8)
    assert resize_exact(image, 1792, 1024).size == (1792, 1024)


def test_signed_url_round_trip_tamper_and_expiry() -> None:
    key = b"k" * 32
    url = sign_image_url(key, "ab.png", ttl_s=60, now=1000.0)
    path, query = url.split("?")
    params = dict(p.split("=") for p in query.split("&"))
    expires, signature = int(params["expires"]), params["signature"]
    assert path == "/files/ab.png" and expires == 1060
    check_signature(key, "ab.png", expires, signature, now=1059.0)
    with pytest.raises(Expired):
        check_signature(key, "ab.png", expires, signature, now=1061.0)
    with pytest.raises(NotFound):
        check_signature(key, "ab.png", expires + 3600, signature, now=1000.0)  # extended
    with pytest.raises(NotFound):
        check_signature(key, "cd.png", expires, signature, now=1000.0)  # another image
    with pytest.raises(NotFound):
        check_signature(b"other-key", "ab.png", expires, signature, now=1000.0)


def test_image_store_writes_blob_then_row(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    store = image_store(db, open_blob_store(Settings(data_dir=tmp_path)))
    record = ImageRecord("a" * 32, "key1", "images", "hero", "p", "", 5, "tiny", 8, 8, "png", 1.0)
    store.save(record, b"\x89PNG data")
    assert store.get(record.id) == record
    assert store.get(record.id, owner="key1") == record
    assert store.get(record.id, owner="key2") is None  # someone else's image looks absent
    assert store.read_owned(record.id, "key1") == b"\x89PNG data"
    assert store.read_owned(record.id, "key2") is None
    files = list((tmp_path / "images").iterdir())
    assert [f.name for f in files] == [f"{'a' * 32}.png"]  # no temp file left, named by id only
    assert store.get("b" * 32) is None
    db.close()
    reopened = image_store(open_database(tmp_path), open_blob_store(Settings(data_dir=tmp_path)))
    assert reopened.get(record.id) == record


def test_a_non_ascii_signature_is_a_404_not_a_500(client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound):
        check_signature(b"k" * 32, "ab.png", 2**40, "sïgnature")
    response = client.get("/files/ab.png", params={"expires": 2**40, "signature": "\u00e9\u00e9"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
