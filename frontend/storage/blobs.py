"""Image bytes by key: a local directory (the embedded default) or an S3-compatible store, chosen by
T2I_BLOB_STORE_URL. Every caller opens its store with `open_blob_store`."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from frontend.settings import Settings
from frontend.storage.s3_blobs import S3BlobStore, S3Location, s3_client

# The forms T2I_BLOB_STORE_URL takes, as its error messages list them.
BLOB_STORE_URL_FORMS = "file:///absolute/directory or s3://bucket[/prefix] (unset: T2I_DATA_DIR/images)"
# botocore's own (lenient) bucket-name rule: S3-compatible stores accept more than AWS does. It also keeps
# credentials (user:secret@) and ports out of the URL.
_BUCKET_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def read(self, key: str) -> bytes | None: ...

    def ready(self) -> bool: ...


class BlobStoreURLError(ValueError):
    """A T2I_BLOB_STORE_URL or T2I_S3_ENDPOINT_URL the frontend cannot use; the message is one line."""


class FileBlobStore:
    """A local directory, owned by one frontend (several replicas share an s3:// store instead)."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        # Half-written files of a process that died mid-write: never renamed, never referenced, never
        # served. One frontend owns a local directory, so nothing is writing them at start-up.
        for stale in self.root.glob(".tmp-*"):
            stale.unlink(missing_ok=True)

    def put(self, key: str, data: bytes) -> None:
        """Temp file + fsync + rename: a reader sees the whole file or none."""
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".tmp-", delete=False) as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, self.root / key)

    def read(self, key: str) -> bytes | None:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            return None

    def ready(self) -> bool:
        """Whether the directory still exists and this process may write into it (a read-only mount is
        not)."""
        return self.root.is_dir() and os.access(self.root, os.W_OK | os.X_OK)


def parse_blob_store_url(url: str | None, default_dir: Path) -> Path | S3Location:
    """The local directory or the S3 bucket and prefix that `url` names (None: `default_dir`)."""
    if url is None:
        return default_dir
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise _bad_url(url, "no query or fragment")
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
        return Path(unquote(parts.path))
    if parts.scheme == "s3" and _BUCKET_NAME.fullmatch(parts.netloc):
        return S3Location(parts.netloc, unquote(parts.path).strip("/"))
    raise _bad_url(url)


def _check_s3_endpoint_url(url: str | None) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlobStoreURLError(
            f"T2I_S3_ENDPOINT_URL={url!r} is not an S3 endpoint: use http(s)://host[:port] "
            "(unset: AWS S3 in AWS_DEFAULT_REGION)"
        )


def blob_store_location(settings: Settings) -> Path | S3Location:
    """Where T2I_BLOB_STORE_URL (and, for S3, T2I_S3_ENDPOINT_URL) says image bytes go; BlobStoreURLError
    for a setting that cannot be used. Touches nothing: start-up checks the settings with it."""
    location = parse_blob_store_url(settings.blob_store_url, settings.data_dir / "images")
    if isinstance(location, S3Location):
        _check_s3_endpoint_url(settings.s3_endpoint_url)
    return location


def open_blob_store(settings: Settings) -> BlobStore:
    """The store T2I_BLOB_STORE_URL names. Opening checks the URL only; `ready()` reaches the store."""
    location = blob_store_location(settings)
    if isinstance(location, Path):
        return FileBlobStore(location)
    return S3BlobStore(location, s3_client(settings.s3_endpoint_url))


def _bad_url(url: str, detail: str = "") -> BlobStoreURLError:
    detail = f" ({detail})" if detail else ""
    return BlobStoreURLError(
        f"T2I_BLOB_STORE_URL={url!r} is not a blob store URL{detail}: use {BLOB_STORE_URL_FORMS}"
    )
