"""Generated images: metadata rows in SQLite (WAL), bytes in files written atomically.

Behind this small interface so that a shared backend (PostgreSQL + object storage) can replace the
embedded default when several frontends serve one store.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from frontend.database import Database

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


_COLUMNS = ", ".join(ImageRecord.__dataclass_fields__)


class ImageStore:
    def __init__(self, db: Database, root: Path):
        self.files = root / "images"
        self.files.mkdir(parents=True, exist_ok=True)
        self._db = db
        self._db.execute(SCHEMA)

    def path(self, record: ImageRecord) -> Path:
        return self.files / record.filename

    def save(self, record: ImageRecord, data: bytes) -> None:
        """File first (temp + fsync + rename), then the row: a row never points at a missing file."""
        with tempfile.NamedTemporaryFile(dir=self.files, prefix=".tmp-", delete=False) as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, self.path(record))
        marks = ", ".join("?" for _ in ImageRecord.__dataclass_fields__)
        self._db.execute(f"INSERT INTO images ({_COLUMNS}) VALUES ({marks})", tuple(record.__dict__.values()))

    def get(self, image_id: str, owner: str | None = None) -> ImageRecord | None:
        """The record, or None if absent or (with `owner`) someone else's: callers cannot tell which."""
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM images WHERE id = ?", (image_id,))
        record = ImageRecord(*rows[0]) if rows else None
        if record is None or (owner is not None and record.owner != owner):
            return None
        return record

    def owned_path(self, image_id: str, owner: str) -> Path | None:
        """The file of one of `owner`'s images (references by id), None otherwise."""
        record = self.get(image_id, owner)
        return self.path(record) if record else None
