"""Generated images: metadata rows in SQLite (WAL), bytes in files written atomically.

Behind this small interface so that a shared backend (PostgreSQL + object storage) can replace the
embedded default when several frontends serve one store.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    folder TEXT NOT NULL,
    name TEXT NOT NULL,
    prompt TEXT NOT NULL,
    negative_prompt TEXT NOT NULL,
    seed INTEGER NOT NULL,
    model TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    format TEXT NOT NULL,
    created REAL NOT NULL
)
"""


@dataclass(frozen=True)
class ImageRecord:
    id: str
    owner: str
    folder: str
    name: str
    prompt: str
    negative_prompt: str
    seed: int
    model: str
    width: int
    height: int
    format: str
    created: float

    @property
    def filename(self) -> str:
        return f"{self.id}.{self.format}"


class ImageStore:
    def __init__(self, root: Path):
        self.files = root / "images"
        self.files.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(root / "images.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()

    def path(self, record: ImageRecord) -> Path:
        return self.files / record.filename

    def save(self, record: ImageRecord, data: bytes) -> None:
        """File first (temp + fsync + rename), then the row: a row never points at a missing file."""
        with tempfile.NamedTemporaryFile(dir=self.files, prefix=".tmp-", delete=False) as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, self.path(record))
        columns = ", ".join(ImageRecord.__dataclass_fields__)
        marks = ", ".join("?" for _ in ImageRecord.__dataclass_fields__)
        with self._lock:
            self._db.execute(
                f"INSERT INTO images ({columns}) VALUES ({marks})", tuple(record.__dict__.values())
            )

    def get(self, image_id: str) -> ImageRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(ImageRecord.__dataclass_fields__)} FROM images WHERE id = ?", (image_id,)
            ).fetchone()
        return ImageRecord(*row) if row else None

    def close(self) -> None:
        self._db.close()


def now() -> float:
    return time.time()
