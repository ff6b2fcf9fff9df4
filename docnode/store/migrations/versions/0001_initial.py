"""initial schema: documents, deliveries, events (hash chain), inbox, received statuses,
receipts, outbox, peers, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-12-01

Types are spelled as plain SQLAlchemy types (VARCHAR for enums, DateTime(timezone=True) for
UTC timestamps) so that this file never changes when the Python-side column types evolve.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=24), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("organ_id", sa.String(length=35), nullable=False),
        sa.Column("counterparty", sa.String(length=35), nullable=False),
        sa.Column("edxml_document_id", sa.String(length=255), nullable=False),
        sa.Column("from_organ_id", sa.String(length=35), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("promulgation_date", sa.Date(), nullable=True),
        sa.Column("status_code", sa.String(length=2), nullable=True),
        sa.Column("business_doc_type", sa.Integer(), nullable=False),
        sa.Column("packet_sha256", sa.String(length=64), nullable=False),
        sa.Column("packet_size", sa.Integer(), nullable=False),
        sa.Column("verification", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_documents_edxml", "documents", ["edxml_document_id", "from_organ_id"], unique=False
    )
    op.create_index(
        "ix_documents_organ_created", "documents", ["organ_id", "created_at"], unique=False
    )
    op.create_table(
        "event_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("base_id", sa.Integer(), nullable=False),
        sa.Column("base_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_claim", "outbox", ["state", "next_attempt_at"], unique=False)
    op.create_table(
        "peers",
        sa.Column("organ_id", sa.String(length=35), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("organ_id"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("recipient_organ_id", sa.String(length=35), nullable=False),
        sa.Column("route", sa.String(length=1024), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("receipt_sha256", sa.String(length=64), nullable=True),
        sa.Column("axis_doc_id", sa.String(length=255), nullable=True),
        sa.Column("status_code", sa.String(length=2), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], name="fk_deliveries_document"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "recipient_organ_id", name="uq_deliveries_recipient"),
    )
    op.create_index(op.f("ix_deliveries_document_id"), "deliveries", ["document_id"], unique=False)
    op.create_index("ix_deliveries_state", "deliveries", ["state", "next_attempt_at"], unique=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], name="fk_idempotency_document"),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    op.create_table(
        "inbox",
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("organ_id", sa.String(length=35), nullable=False),
        sa.Column("from_organ_id", sa.String(length=35), nullable=False),
        sa.Column("edxml_document_id", sa.String(length=255), nullable=False),
        sa.Column("packet_sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.String(length=2), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], name="fk_inbox_document"),
        sa.PrimaryKeyConstraint("document_id"),
        sa.UniqueConstraint("from_organ_id", "edxml_document_id", name="uq_inbox_dedup"),
    )
    op.create_index("ix_inbox_organ_received", "inbox", ["organ_id", "received_at"], unique=False)
    op.create_table(
        "receipts",
        sa.Column("packet_sha256", sa.String(length=64), nullable=False),
        sa.Column("receipt_sha256", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], name="fk_receipts_document"),
        sa.PrimaryKeyConstraint("packet_sha256"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=True),
        sa.Column("delivery_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], name="fk_events_delivery"),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], name="fk_events_document"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hash", name="uq_events_hash"),
    )
    op.create_index("ix_events_delivery", "events", ["delivery_id", "id"], unique=False)
    op.create_index("ix_events_document", "events", ["document_id", "id"], unique=False)
    op.create_table(
        "received_statuses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(length=36), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=True),
        sa.Column("from_organ_id", sa.String(length=35), nullable=False),
        sa.Column("response_for_document_id", sa.String(length=255), nullable=False),
        sa.Column("status_code", sa.String(length=2), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("packet_sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["deliveries.id"], name="fk_received_statuses_delivery"
        ),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name="fk_received_statuses_document"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "from_organ_id",
            "response_for_document_id",
            "status_code",
            "timestamp",
            name="uq_received_statuses_dedup",
        ),
    )
    op.create_index(
        op.f("ix_received_statuses_delivery_id"), "received_statuses", ["delivery_id"], unique=False
    )
    # The chain head row exists from the start, so appends only ever UPDATE it.
    op.execute(
        sa.text(
            "INSERT INTO event_chain_head (id, last_id, last_hash, base_id, base_hash) "
            "VALUES (1, 0, :h, 0, :h)"
        ).bindparams(h=GENESIS_HASH)
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_received_statuses_delivery_id"), table_name="received_statuses")
    op.drop_table("received_statuses")
    op.drop_index("ix_events_document", table_name="events")
    op.drop_index("ix_events_delivery", table_name="events")
    op.drop_table("events")
    op.drop_table("receipts")
    op.drop_index("ix_inbox_organ_received", table_name="inbox")
    op.drop_table("inbox")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_deliveries_state", table_name="deliveries")
    op.drop_index(op.f("ix_deliveries_document_id"), table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("peers")
    op.drop_index("ix_outbox_claim", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("event_chain_head")
    op.drop_index("ix_documents_organ_created", table_name="documents")
    op.drop_index("ix_documents_edxml", table_name="documents")
    op.drop_table("documents")
