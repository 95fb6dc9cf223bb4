"""The database schema: API keys, image rows and usage, as SQLAlchemy Core tables.

The columns are those of the first embedded SQLite schema, so databases it created keep working; a change
here needs a new revision in frontend/storage/migrations/versions/ (a unit test compares the two).
Times are Unix seconds as 64-bit floats: PostgreSQL's 4-byte REAL would round them to about two
minutes.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Double, Index, Integer, MetaData, Table, Text
from sqlalchemy.dialects.sqlite import REAL
from sqlalchemy.types import TypeEngine

# Seeds go up to 2**63 and usage ids only grow: 64-bit. SQLite's INTEGER and REAL already are 64-bit (and
# only INTEGER PRIMARY KEY is its rowid), so on SQLite the columns keep the first schema's spelling.
Int64 = BigInteger().with_variant(Integer(), "sqlite")
Float64: TypeEngine[float] = Double().with_variant(REAL(), "sqlite")

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    # Only the SHA-256 of the secret (frontend.storage.keys.hash_key); unique, it is the lookup key.
    Column("key_hash", Text, nullable=False, unique=True),
    Column("created", Float64, nullable=False),
    Column("revoked", Float64),
)

images = Table(
    "images",
    metadata,
    Column("id", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("folder", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("prompt", Text, nullable=False),
    Column("negative_prompt", Text, nullable=False),
    Column("seed", Int64, nullable=False),
    Column("model", Text, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("format", Text, nullable=False),
    Column("created", Float64, nullable=False),
    # One owner's images newest first (GET /v1/images) read this index, not the whole table.
    Index("images_owner_created", "owner", "created"),
)

usage = Table(
    "usage",
    metadata,
    Column("id", Int64, primary_key=True, autoincrement=True),
    Column("owner", Text, nullable=False),
    Column("route", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("image_size", Text, nullable=False),
    Column("count", Integer, nullable=False),
    Column("steps", Integer, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("cost", Float64, nullable=False),
    Column("created", Float64, nullable=False),
    # A caller's history, newest first.
    Index("usage_owner_created", "owner", "created"),
    # As the first schema had it: SQLite never reuses the id of a deleted row.
    sqlite_autoincrement=True,
)
