"""scale-out: payload blobs in the database (``[store] blobs = "database"``, issue 8).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

One table, ``blobs`` (content-addressed: the primary key is the SHA-256 of ``data``), so that
several machines sharing one PostgreSQL store need no shared folder. Plain SQLAlchemy types,
as in 0001: ``LargeBinary`` is BLOB on SQLite and BYTEA on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )


def downgrade() -> None:
    op.drop_table("blobs")
