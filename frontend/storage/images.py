"""Generated images: metadata rows (this module) and their bytes (frontend.storage.blobs).

Rows go to the database T2I_DATABASE_URL names (the embedded SQLite file by default, PostgreSQL for several
frontend replicas), bytes to a blob store (local files by default; a store shared by replicas implements
the same protocol); nothing above this module knows which ones it talks to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Protocol

from sqlalchemy import insert, select

from frontend.storage.blobs import BlobStore
from frontend.storage.database import Database
from frontend.storage.tables import images


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


_RECORD_COLUMNS = tuple(images.c[field.name] for field in fields(ImageRecord))


class DatabaseImageIndex:
    """Image rows in the database (frontend.storage.database): SQLite or PostgreSQL."""

    def __init__(self, db: Database):
        self._engine = db.engine

    def insert(self, record: ImageRecord) -> None:
        with self._engine.begin() as connection:
            connection.execute(insert(images).values(asdict(record)))

    def get(self, image_id: str) -> ImageRecord | None:
        with self._engine.begin() as connection:
            row = connection.execute(select(*_RECORD_COLUMNS).where(images.c.id == image_id)).first()
        return ImageRecord(*row) if row else None

    def list_owned(self, owner: str, limit: int) -> list[ImageRecord]:
        query = (
            select(*_RECORD_COLUMNS)
            .where(images.c.owner == owner)
            .order_by(images.c.created.desc(), images.c.id.desc())
            .limit(limit)
        )
        with self._engine.begin() as connection:
            rows = connection.execute(query).all()
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


def image_store(db: Database, blobs: BlobStore) -> ImageStore:
    """Rows in `db`, bytes in `blobs` (from frontend.storage.blobs.open_blob_store)."""
    return ImageStore(DatabaseImageIndex(db), blobs)
