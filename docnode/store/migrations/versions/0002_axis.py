"""axis role: client systems, their OrganIds, messages, per-recipient copies, hops, replay
cache (``docnode.axis.tables``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Types are spelled as plain SQLAlchemy types, as in 0001, so that this file never changes when
the Python-side column types evolve.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "axis_systems",
        sa.Column("system_id", sa.String(length=128), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("system_id"),
    )
    op.create_table(
        "axis_organs",
        sa.Column("organ_id", sa.String(length=35), nullable=False),
        sa.Column("system_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("mail", sa.String(length=255), nullable=False),
        sa.Column("parent", sa.String(length=35), nullable=False),
        sa.ForeignKeyConstraint(["system_id"], ["axis_systems.system_id"],
                                name="fk_axis_organs_system"),
        sa.PrimaryKeyConstraint("organ_id"),
    )
    op.create_index(op.f("ix_axis_organs_system_id"), "axis_organs", ["system_id"], unique=False)
    op.create_table(
        "axis_messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sender_system_id", sa.String(length=128), nullable=False),
        sa.Column("from_organ_id", sa.String(length=35), nullable=False),
        sa.Column("message_type", sa.String(length=16), nullable=False),
        sa.Column("edxml_document_id", sa.String(length=255), nullable=False),
        sa.Column("status_code", sa.String(length=2), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("notation", sa.String(length=255), nullable=False),
        sa.Column("packet_sha256", sa.String(length=64), nullable=False),
        sa.Column("served_sha256", sa.String(length=64), nullable=False),
        sa.Column("packet_size", sa.Integer(), nullable=False),
        sa.Column("unverified", sa.Boolean(), nullable=False),
        sa.Column("received_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["sender_system_id"], ["axis_systems.system_id"],
                                name="fk_axis_messages_system"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("from_organ_id", "packet_sha256", name="uq_axis_messages_packet"),
    )
    op.create_index("ix_axis_messages_sender", "axis_messages",
                    ["sender_system_id", "message_type", "received_at"], unique=False)
    op.create_table(
        "axis_copies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_organ_id", sa.String(length=35), nullable=False),
        sa.Column("recipient_system_id", sa.String(length=128), nullable=False),
        sa.Column("message_type", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("fail_acks", sa.Integer(), nullable=False),
        sa.Column("fetches", sa.Integer(), nullable=False),
        sa.Column("visible_at", _TZ, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("fetched_at", _TZ, nullable=True),
        sa.Column("acked_at", _TZ, nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["axis_messages.id"],
                                name="fk_axis_copies_message"),
        sa.ForeignKeyConstraint(["recipient_system_id"], ["axis_systems.system_id"],
                                name="fk_axis_copies_system"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", "recipient_organ_id", name="uq_axis_copies_recipient"),
    )
    op.create_index(op.f("ix_axis_copies_message_id"), "axis_copies", ["message_id"],
                    unique=False)
    op.create_index("ix_axis_copies_poll", "axis_copies",
                    ["recipient_system_id", "message_type", "state", "visible_at"], unique=False)
    op.create_table(
        "axis_hops",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("copy_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["axis_messages.id"],
                                name="fk_axis_hops_message"),
        sa.ForeignKeyConstraint(["copy_id"], ["axis_copies.id"], name="fk_axis_hops_copy"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_axis_hops_message", "axis_hops", ["message_id", "id"], unique=False)
    op.create_table(
        "axis_seen_requests",
        sa.Column("system_id", sa.String(length=128), nullable=False),
        sa.Column("replay_key", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("seen_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("system_id", "replay_key"),
    )
    op.create_index(op.f("ix_axis_seen_requests_seen_at"), "axis_seen_requests", ["seen_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_axis_seen_requests_seen_at"), table_name="axis_seen_requests")
    op.drop_table("axis_seen_requests")
    op.drop_index("ix_axis_hops_message", table_name="axis_hops")
    op.drop_table("axis_hops")
    op.drop_index("ix_axis_copies_poll", table_name="axis_copies")
    op.drop_index(op.f("ix_axis_copies_message_id"), table_name="axis_copies")
    op.drop_table("axis_copies")
    op.drop_index("ix_axis_messages_sender", table_name="axis_messages")
    op.drop_table("axis_messages")
    op.drop_index(op.f("ix_axis_organs_system_id"), table_name="axis_organs")
    op.drop_table("axis_organs")
    op.drop_table("axis_systems")
