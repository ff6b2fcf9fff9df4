"""The axis role's tables (sqlmodel), on the same metadata as ``docnode.store.tables``; the
schema is owned by the migration ``docnode/store/migrations/versions/0002_axis.py``.

Rules:
1. A message is stored once (blob + ``axis_messages`` row) and fanned out to one
   ``axis_copies`` row per recipient OrganId, all in the transaction that answers sendEdoc OK.
   The copy's id is the ``docId`` the recipient sees; the message's id is the sender's ``DocId``.
2. The packet bytes are never altered when signed. ``served_sha256`` names the blob served to
   recipients: the sender's bytes, or (unsigned legacy edoc only) a copy with the axis's
   TraceHeader appended (DESIGN §7).
3. ``axis_hops`` is append-only: every step a message or copy takes (received, served,
   acknowledged done/fail, dead) with its time; getSentEdocList reads the copies' states.
4. ``axis_seen_requests`` is the replay cache: a sendEdoc's HMAC (per system) is inserted in
   the same transaction as the message, so a byte-identical replay is refused even after a
   restart.
5. An OrganId belongs to at most one client system (``axis_organs`` primary key): the
   system that may send as it and that receives what is addressed to it.
6. ``axis_client_timestamps`` holds each request timestamp a system used, accepted when it
   was first seen fresh; a timestamp listed there is never refused for its age.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlmodel import SQLModel

from docnode.store.tables import ORGAN_ID_LEN, SHA256_LEN, UUID_LEN, _col, _fk, _opt
from docnode.store.types import StrEnumType, UTCDateTime

SYSTEM_ID_LEN = 128


def _sys_fk(name: str) -> ForeignKey:
    return ForeignKey("axis_systems.system_id", name=name)


class CopyState(StrEnum):
    """One copy towards one recipient: ``pending`` (listed on polls) -> ``done`` (the
    recipient acknowledged) | ``dead`` (``fail`` acknowledged ``max_fail_acks`` times)."""

    PENDING = "pending"
    DONE = "done"
    DEAD = "dead"


class RegistrySource(StrEnum):
    CLI = "cli"
    CONFIG = "config"


class AxisSystem(SQLModel, table=True):
    """A registered client system (one VXP system id)."""

    __tablename__: ClassVar[str] = "axis_systems"

    system_id: str = _col(String(SYSTEM_ID_LEN), primary_key=True)
    secret_sealed: str = _col(Text)
    """The HMAC secret, AES-256-GCM sealed with the axis master key (``docnode.axis.secrets``)."""
    name: str = _col(String(255), default="")
    created_at: datetime = _col(UTCDateTime)
    updated_at: datetime = _col(UTCDateTime)


class AxisOrgan(SQLModel, table=True):
    """An OrganId a system speaks for (rule 5); also the axis's agency directory."""

    __tablename__: ClassVar[str] = "axis_organs"

    organ_id: str = _col(String(ORGAN_ID_LEN), primary_key=True)
    system_id: str = _col(String(SYSTEM_ID_LEN), _sys_fk("fk_axis_organs_system"),
                          index=True)
    name: str = _col(String(255), default="")
    mail: str = _col(String(255), default="")
    parent: str = _col(String(ORGAN_ID_LEN), default="")
    source: str = _col(String(16), default=RegistrySource.CLI.value, server_default="cli")
    """Who registered it (migration 0005): ``cli`` or ``config`` (the ``[[axis_systems]]``
    of a ``role = "axis"`` config, which removes its own entries once they leave it)."""


class AxisMessage(SQLModel, table=True):
    """One packet as a client system sent it (rule 1)."""

    __tablename__: ClassVar[str] = "axis_messages"
    __table_args__ = (
        UniqueConstraint("from_organ_id", "packet_sha256", name="uq_axis_messages_packet"),
        Index("ix_axis_messages_sender", "sender_system_id", "message_type", "received_at"),
    )

    id: str = _col(String(UUID_LEN), primary_key=True)
    sender_system_id: str = _col(String(SYSTEM_ID_LEN),
                                 _sys_fk("fk_axis_messages_system"))
    from_organ_id: str = _col(String(ORGAN_ID_LEN))
    message_type: str = _col(String(16))
    """``edoc`` or ``status``."""
    edxml_document_id: str = _col(String(255))
    """The edoc's DocumentId; a status's ResponseFor/DocumentId."""
    status_code: str | None = _opt(String(2))
    title: str = _col(Text, default="")
    notation: str = _col(String(255), default="")
    packet_sha256: str = _col(String(SHA256_LEN))
    """The sender's exact bytes (blob)."""
    served_sha256: str = _col(String(SHA256_LEN))
    """What recipients fetch (rule 2)."""
    packet_size: int = _col(Integer)
    unverified: bool = _col(Boolean, default=False)
    """Accepted unsigned under ``legacy-allowed`` (DESIGN §7)."""
    received_at: datetime = _col(UTCDateTime)


class AxisCopy(SQLModel, table=True):
    """One message towards one recipient OrganId (rule 1)."""

    __tablename__: ClassVar[str] = "axis_copies"
    __table_args__ = (
        UniqueConstraint("message_id", "recipient_organ_id", name="uq_axis_copies_recipient"),
        Index("ix_axis_copies_poll", "recipient_system_id", "message_type", "state",
              "visible_at"),
    )

    id: str = _col(String(UUID_LEN), primary_key=True)
    message_id: str = _col(String(UUID_LEN), _fk("axis_messages", "fk_axis_copies_message"),
                           index=True)
    recipient_organ_id: str = _col(String(ORGAN_ID_LEN))
    recipient_system_id: str = _col(String(SYSTEM_ID_LEN),
                                    _sys_fk("fk_axis_copies_system"))
    message_type: str = _col(String(16))
    state: CopyState = _col(StrEnumType(CopyState))
    fail_acks: int = _col(Integer, default=0)
    """``updateStatus fail`` acknowledgements so far (bounded by the axis policy)."""
    fetches: int = _col(Integer, default=0)
    visible_at: datetime = _col(UTCDateTime)
    """Listed on polls from this time on (a ``fail`` pushes it back by the retry delay)."""
    last_error: str | None = _opt(Text)
    fetched_at: datetime | None = _opt(UTCDateTime)
    acked_at: datetime | None = _opt(UTCDateTime)
    created_at: datetime = _col(UTCDateTime)
    updated_at: datetime = _col(UTCDateTime)


class AxisHop(SQLModel, table=True):
    """Append-only hop record (rule 3)."""

    __tablename__: ClassVar[str] = "axis_hops"
    __table_args__ = (Index("ix_axis_hops_message", "message_id", "id"),)

    id: int = _col(Integer, primary_key=True, autoincrement=True)
    message_id: str = _col(String(UUID_LEN), _fk("axis_messages", "fk_axis_hops_message"))
    copy_id: str | None = _opt(String(UUID_LEN), _fk("axis_copies", "fk_axis_hops_copy"))
    kind: str = _col(String(32))
    """``received``, ``fetched``, ``ack_done``, ``ack_fail``, ``dead``."""
    at: datetime = _col(UTCDateTime)
    actor: str = _col(String(SYSTEM_ID_LEN))
    """The client system that caused it."""
    detail: str = _col(Text, default="")


class AxisSeenRequest(SQLModel, table=True):
    """Replay cache (rule 4)."""

    __tablename__: ClassVar[str] = "axis_seen_requests"

    system_id: str = _col(String(SYSTEM_ID_LEN), primary_key=True)
    replay_key: str = _col(String(SHA256_LEN), primary_key=True)
    message_id: str = _col(String(UUID_LEN))
    seen_at: datetime = _col(UTCDateTime, index=True)


class AxisClientTimestamp(SQLModel, table=True):
    """A request timestamp a client system has used (rule 6; ``docnode.axis.timestamps``)."""

    __tablename__: ClassVar[str] = "axis_client_timestamps"

    system_id: str = _col(String(SYSTEM_ID_LEN), _sys_fk("fk_axis_client_timestamps_system"),
                          primary_key=True)
    timestamp: str = _col(String(64), primary_key=True)
    first_seen: datetime = _col(UTCDateTime)
    last_seen: datetime = _col(UTCDateTime, index=True)


AXIS_TABLES = (AxisSystem, AxisOrgan, AxisMessage, AxisCopy, AxisHop, AxisSeenRequest,
               AxisClientTimestamp)
"""Every axis table, in dependency order."""
