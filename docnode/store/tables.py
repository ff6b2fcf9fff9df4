"""The store's tables (sqlmodel). The schema itself is owned by the alembic migrations in
``docnode/store/migrations``; ``tests/docnode/test_migrations.py`` proves both agree.

Rules:
1. The store is the single source of truth (DESIGN §5); a broker only ever carries row ids.
2. Payload bytes never sit in these tables: columns hold the SHA-256 (lowercase hex) of a
   blob in the content-addressed blob store.
3. ``events`` is append-only and hash-chained (``prev_hash`` -> ``hash``); only
   :meth:`docnode.store.Transaction.append_event` writes it, nothing updates or deletes it.
4. Dedup keys are UNIQUE constraints, so a race between two receivers ends in one row:
   inbox (from_organ_id, edxml_document_id), received_statuses (from, response_for document,
   code, timestamp), receipts (packet sha256), deliveries (document, recipient).
5. Timestamps are aware UTC (:class:`~docnode.store.types.UTCDateTime`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from docnode.store.enums import (
    DeliveryState,
    Direction,
    DocumentKind,
    OutboxState,
    Verification,
    WorkKind,
)
from docnode.store.types import StrEnumType, UTCDateTime

SHA256_LEN = 64
ORGAN_ID_LEN = 35
UUID_LEN = 36


def _col(type_: Any, *args: Any, default: Any = ..., **kw: Any) -> Any:
    """A NOT NULL sqlmodel field over an explicit SQLAlchemy column (so the types are exactly
    those of the migration); ``default`` is the Python-side default."""
    column = Column(type_, *args, nullable=False, **kw)
    return Field(sa_column=column) if default is ... else Field(default, sa_column=column)


def _fk(table: str, name: str) -> ForeignKey:
    return ForeignKey(f"{table}.id", name=name)


def _opt(type_: Any, *args: Any, **kw: Any) -> Any:
    return Field(default=None, sa_column=Column(type_, *args, nullable=True, **kw))


class Document(SQLModel, table=True):
    """One row per packet this node sent or received (edoc or status)."""

    __tablename__: ClassVar[str] = "documents"
    __table_args__ = (
        Index("ix_documents_edxml", "edxml_document_id", "from_organ_id"),
        Index("ix_documents_organ_created", "organ_id", "created_at"),
    )

    id: str = _col(String(UUID_LEN), primary_key=True)
    direction: Direction = _col(StrEnumType(Direction))
    kind: DocumentKind = _col(StrEnumType(DocumentKind))
    organ_id: str = _col(String(ORGAN_ID_LEN))
    """Our organisation (sender of an outgoing, recipient of an incoming document)."""
    counterparty: str = _col(String(ORGAN_ID_LEN))
    """The other side: the (first) recipient of an outgoing, the sender of an incoming one."""
    edxml_document_id: str = _col(String(255))
    """edXML DocumentId; for a status packet, its ResponseFor/DocumentId."""
    from_organ_id: str = _col(String(ORGAN_ID_LEN))
    subject: str = _col(Text, default="")
    code: str = _col(String(255), default="")
    """Code as ``number/notation``."""
    promulgation_date: date | None = _opt(Date)
    status_code: str | None = _opt(String(2))
    """For a status packet: its StatusCode."""
    business_doc_type: int = _col(Integer, default=0)
    packet_sha256: str = _col(String(SHA256_LEN))
    packet_size: int = _col(Integer)
    verification: Verification = _col(StrEnumType(Verification))
    created_at: datetime = _col(UTCDateTime)


class Delivery(SQLModel, table=True):
    """One outgoing document towards one recipient."""

    __tablename__: ClassVar[str] = "deliveries"
    __table_args__ = (
        UniqueConstraint("document_id", "recipient_organ_id", name="uq_deliveries_recipient"),
        Index("ix_deliveries_state", "state", "next_attempt_at"),
    )

    id: str = _col(String(UUID_LEN), primary_key=True)
    document_id: str = _col(String(UUID_LEN), _fk("documents", "fk_deliveries_document"),
                            index=True)
    recipient_organ_id: str = _col(String(ORGAN_ID_LEN))
    route: str = _col(String(1024))
    """``direct:<peer URL>`` or ``axis`` (DESIGN §2 routing), fixed at submission."""
    state: DeliveryState = _col(StrEnumType(DeliveryState))
    attempts: int = _col(Integer, default=0)
    next_attempt_at: datetime | None = _opt(UTCDateTime)
    last_error: str | None = _opt(Text)
    receipt_sha256: str | None = _opt(String(SHA256_LEN))
    """Blob of the signed receipt that proved delivery."""
    axis_doc_id: str | None = _opt(String(255))
    status_code: str | None = _opt(String(2))
    """Latest StatusCode the recipient sent back (01..16)."""
    status_at: datetime | None = _opt(UTCDateTime)
    """Timestamp (from the status packet) of ``status_code``."""
    created_at: datetime = _col(UTCDateTime)
    updated_at: datetime = _col(UTCDateTime)


class Event(SQLModel, table=True):
    """Append-only, hash-chained timeline entry (rule 3)."""

    __tablename__: ClassVar[str] = "events"
    __table_args__ = (
        Index("ix_events_document", "document_id", "id"),
        Index("ix_events_delivery", "delivery_id", "id"),
        UniqueConstraint("hash", name="uq_events_hash"),
    )

    id: int = _col(Integer, primary_key=True, autoincrement=True)
    document_id: str | None = _opt(String(UUID_LEN), _fk("documents", "fk_events_document"))
    """``None`` only for events about no stored document (e.g. an orphan status)."""
    delivery_id: str | None = _opt(String(UUID_LEN), _fk("deliveries", "fk_events_delivery"))
    kind: str = _col(String(64))
    at: datetime = _col(UTCDateTime)
    actor: str = _col(String(255))
    """Who caused it: ``clerk:<name>``, ``worker:<id>``, ``peer:<OrganId>``, ``system``…"""
    evidence: str = _col(Text, default="{}")
    """Canonical JSON (:func:`~docnode.store.types.canonical_json`), e.g. a receipt digest."""
    prev_hash: str = _col(String(SHA256_LEN))
    hash: str = _col(String(SHA256_LEN))


class EventChainHead(SQLModel, table=True):
    """The one row naming the last event of the chain: appends lock it (serialising them on
    every backend) and verification compares it, so truncating the tail is detected too.
    ``base_*`` is where verification starts; retention moves it when it prunes."""

    __tablename__: ClassVar[str] = "event_chain_head"

    id: int = _col(Integer, primary_key=True, autoincrement=False)
    last_id: int = _col(Integer)
    last_hash: str = _col(String(SHA256_LEN))
    base_id: int = _col(Integer)
    base_hash: str = _col(String(SHA256_LEN))


class InboxEntry(SQLModel, table=True):
    """A received edoc (dedup key: signed From OrganId + DocumentId, DESIGN §7)."""

    __tablename__: ClassVar[str] = "inbox"
    __table_args__ = (
        UniqueConstraint("from_organ_id", "edxml_document_id", name="uq_inbox_dedup"),
        Index("ix_inbox_organ_received", "organ_id", "received_at"),
    )

    document_id: str = _col(String(UUID_LEN), _fk("documents", "fk_inbox_document"),
                            primary_key=True)
    organ_id: str = _col(String(ORGAN_ID_LEN))
    """Which of our organisations it is addressed to."""
    from_organ_id: str = _col(String(ORGAN_ID_LEN))
    edxml_document_id: str = _col(String(255))
    packet_sha256: str = _col(String(SHA256_LEN))
    received_at: datetime = _col(UTCDateTime)
    status_code: str | None = _opt(String(2))
    """Latest status we sent back (01 arrived, 03 accepted, …)."""
    status_at: datetime | None = _opt(UTCDateTime)


class ReceivedStatus(SQLModel, table=True):
    """A status packet received for a document we sent (or an orphan: ``delivery_id`` None)."""

    __tablename__: ClassVar[str] = "received_statuses"
    __table_args__ = (
        UniqueConstraint("from_organ_id", "response_for_document_id", "status_code",
                         "timestamp", name="uq_received_statuses_dedup"),
    )

    id: int = _col(Integer, primary_key=True, autoincrement=True)
    document_id: str = _col(String(UUID_LEN), _fk("documents", "fk_received_statuses_document"))
    """The status packet's own document row."""
    delivery_id: str | None = _opt(String(UUID_LEN),
                                   _fk("deliveries", "fk_received_statuses_delivery"), index=True)
    from_organ_id: str = _col(String(ORGAN_ID_LEN))
    response_for_document_id: str = _col(String(255))
    status_code: str = _col(String(2))
    timestamp: datetime = _col(UTCDateTime)
    packet_sha256: str = _col(String(SHA256_LEN))
    received_at: datetime = _col(UTCDateTime)


class Receipt(SQLModel, table=True):
    """The signed receipt we answered for an incoming packet, so that the same bytes again
    get the very same receipt (200) rather than a new one."""

    __tablename__: ClassVar[str] = "receipts"

    packet_sha256: str = _col(String(SHA256_LEN), primary_key=True)
    receipt_sha256: str = _col(String(SHA256_LEN))
    document_id: str = _col(String(UUID_LEN), _fk("documents", "fk_receipts_document"))
    created_at: datetime = _col(UTCDateTime)


class OutboxItem(SQLModel, table=True):
    """A unit of work for the ``sql`` queue (and the relay source for ``amqp``)."""

    __tablename__: ClassVar[str] = "outbox"
    __table_args__ = (Index("ix_outbox_claim", "state", "next_attempt_at"),)

    id: int = _col(Integer, primary_key=True, autoincrement=True)
    kind: WorkKind = _col(StrEnumType(WorkKind))
    ref: str = _col(String(255))
    """Id of the row to act on (a delivery id); never a copy of the payload."""
    state: OutboxState = _col(StrEnumType(OutboxState))
    attempts: int = _col(Integer, default=0)
    """Claims so far (a crashed try counts, so a poison item cannot loop forever)."""
    next_attempt_at: datetime = _col(UTCDateTime)
    lease_owner: str | None = _opt(String(255))
    lease_expires_at: datetime | None = _opt(UTCDateTime)
    lease_token: int = _col(Integer, default=0)
    """Bumped at every claim; completing needs the token, so a worker whose lease was taken
    over cannot complete or retry the item."""
    last_error: str | None = _opt(Text)
    created_at: datetime = _col(UTCDateTime)
    updated_at: datetime = _col(UTCDateTime)


class Peer(SQLModel, table=True):
    """Route to a direct peer (from the config, the API or the axis directory)."""

    __tablename__: ClassVar[str] = "peers"

    organ_id: str = _col(String(ORGAN_ID_LEN), primary_key=True)
    url: str = _col(String(1024))
    name: str = _col(String(255), default="")
    source: str = _col(String(16), default="config")
    updated_at: datetime = _col(UTCDateTime)


class Agency(SQLModel, table=True):
    """One entry of the node's axis directory: the last getAgenciesList answer (migration
    0005). Informational: it names recipients for clerks and ``docnode peers``; routing
    never depends on it (``docnode.directory``)."""

    __tablename__: ClassVar[str] = "agencies"

    organ_id: str = _col(String(ORGAN_ID_LEN), primary_key=True)
    """The agency's code (OrganId)."""
    name: str = _col(String(255), default="")
    mail: str = _col(String(255), default="")
    parent: str = _col(String(ORGAN_ID_LEN), default="")
    """The parent agency's code (``pid``), when the axis gives one."""
    axis_id: str = _col(String(64), default="")
    """The axis's own id of the entry (``id``)."""
    synced_at: datetime = _col(UTCDateTime)


class IdempotencyKey(SQLModel, table=True):
    """Clerk API ``Idempotency-Key``: the same key and request give the same answer."""

    __tablename__: ClassVar[str] = "idempotency_keys"

    scope: str = _col(String(255), primary_key=True)
    """Caller (token id or OrganId) the key belongs to."""
    key: str = _col(String(255), primary_key=True)
    request_sha256: str = _col(String(SHA256_LEN))
    response: str = _col(Text)
    """Canonical JSON of the answer given the first time."""
    document_id: str | None = _opt(String(UUID_LEN), _fk("documents", "fk_idempotency_document"))
    created_at: datetime = _col(UTCDateTime)


class StoredBlob(SQLModel, table=True):
    """Payload bytes kept IN the database (``[store] blobs = "database"``), so that several
    machines sharing one store need no shared folder (DESIGN §5; :mod:`docnode.store.db_blobs`).
    Empty while the filesystem blob store (the default) is in use."""

    __tablename__: ClassVar[str] = "blobs"

    sha256: str = _col(String(SHA256_LEN), primary_key=True)
    size: int = _col(Integer)
    data: bytes = _col(LargeBinary)
    created_at: datetime = _col(UTCDateTime)


TABLES = (Document, Delivery, Event, EventChainHead, InboxEntry, ReceivedStatus, Receipt,
          OutboxItem, Peer, IdempotencyKey)
"""Every table of the store's first schema (0001), in dependency order; later tables
(``blobs``, 0004) are in the metadata but not here."""
