"""An index for listing one owner's images newest first (GET /v1/images).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("images_owner_created", "images", ["owner", "created"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("images_owner_created", table_name="images")
