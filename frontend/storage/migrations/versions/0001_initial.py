"""The first schema: api_keys, images and usage.

Databases from before migrations (the stores ran `CREATE TABLE IF NOT EXISTS` at start-up) hold some or
all of these tables already, with exactly these columns: IF NOT EXISTS keeps them and their rows, and
creates the rest (a data directory where only `python -m frontend.keys` ran has api_keys alone).

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here, not imported from frontend.storage.tables: this revision must keep creating the schema
# of its time after tables.py has moved on.
Int64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Float64: sa.types.TypeEngine[float] = sa.Double().with_variant(sqlite.REAL(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False, unique=True),
        sa.Column("created", Float64, nullable=False),
        sa.Column("revoked", Float64),
        if_not_exists=True,
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("negative_prompt", sa.Text(), nullable=False),
        sa.Column("seed", Int64, nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("created", Float64, nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "usage",
        sa.Column("id", Int64, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("image_size", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("cost", Float64, nullable=False),
        sa.Column("created", Float64, nullable=False),
        sqlite_autoincrement=True,
        if_not_exists=True,
    )
    op.create_index("usage_owner_created", "usage", ["owner", "created"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("usage_owner_created", table_name="usage")
    op.drop_table("usage")
    op.drop_table("images")
    op.drop_table("api_keys")
