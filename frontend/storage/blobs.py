"""Image bytes by key: a local directory (the embedded default)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def read(self, key: str) -> bytes | None: ...


class FileBlobStore:
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
