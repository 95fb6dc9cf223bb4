"""Generated images: metadata rows (this module) and their bytes (frontend.storage.blobs).

The embedded default is SQLite (WAL) for metadata and local files for blobs. A shared backend
(PostgreSQL + S3-compatible object storage) for several frontend replicas implements the same two
protocols; nothing above this module knows which one it talks to.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from typing import Protocol

from frontend.storage.blobs import BlobStore
from frontend.storage.database import Database

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
# Listing one owner's images newest first (GET /v1/images) reads this index, not the whole table.
_OWNER_INDEX = "CREATE INDEX IF NOT EXISTS images_owner_created ON images (owner, created)"


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

    @property
    def blob_key(self) -> str:
        # By id, not by the user's folder/name: user text never becomes a path.
        return self.filename


class ImageIndex(Protocol):
    def insert(self, record: ImageRecord) -> None: ...

    def get(self, image_id: str) -> ImageRecord | None: ...

    def list_owned(self, owner: str, limit: int) -> list[ImageRecord]: ...


_COLUMNS = ", ".join(f.name for f in fields(ImageRecord))


class SqliteImageIndex:
    def __init__(self, db: Database):
        self._db = db
        self._db.execute(SCHEMA)
        self._db.execute(_OWNER_INDEX)

    def insert(self, record: ImageRecord) -> None:
        marks = ", ".join("?" for _ in fields(ImageRecord))
        self._db.execute(f"INSERT INTO images ({_COLUMNS}) VALUES ({marks})", astuple(record))

    def get(self, image_id: str) -> ImageRecord | None:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM images WHERE id = ?", (image_id,))
        return ImageRecord(*rows[0]) if rows else None

    def list_owned(self, owner: str, limit: int) -> list[ImageRecord]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM images WHERE owner = ? ORDER BY created DESC, id DESC LIMIT ?",
            (owner, limit),
        )
        return [ImageRecord(*row) for row in rows]


class ImageStore:
    def __init__(self, index: ImageIndex, blobs: BlobStore):
        self.index = index
        self.blobs = blobs

    def save(self, record: ImageRecord, data: bytes) -> None:
        """Blob first, then the row: a row never points at a missing blob."""
        self.blobs.put(record.blob_key, data)
        self.index.insert(record)

    def get(self, image_id: str, owner: str | None = None) -> ImageRecord | None:
        """The record, or None if absent or (with `owner`) someone else's: callers cannot tell which."""
        record = self.index.get(image_id)
        if record is None or (owner is not None and record.owner != owner):
            return None
        return record

    def list_owned(self, owner: str, limit: int) -> list[ImageRecord]:
        """`owner`'s newest `limit` records, newest first (rows only: no blob is read)."""
        return self.index.list_owned(owner, limit)

    def read(self, record: ImageRecord) -> bytes | None:
        return self.blobs.read(record.blob_key)

    def read_owned(self, image_id: str, owner: str) -> bytes | None:
        """The bytes of one of `owner`'s images (references by id), None otherwise."""
        record = self.get(image_id, owner)
        return self.read(record) if record else None


def embedded_image_store(db: Database, blobs: BlobStore) -> ImageStore:
    """Rows in the embedded database, bytes in `blobs` (from frontend.storage.blobs.open_blob_store)."""
    return ImageStore(SqliteImageIndex(db), blobs)
