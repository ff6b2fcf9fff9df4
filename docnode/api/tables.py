"""The clerk API's tables, on the store's SQLModel metadata (so one alembic history covers
them: ``docnode/store/migrations/versions/0003_api.py``).

Rules:
1. A bearer token is never stored: ``api_tokens.token_sha256`` is the SHA-256 (hex) of the
   token text, which is shown once when ``docnode tokens create`` makes it.
2. A token acts only for the organisations in ``organ_ids`` (JSON list of OrganIds).
3. A webhook subscription belongs to one of our organisations; its HMAC ``secret`` must be
   kept usable (we sign with it), so it is stored as given and never returned by the API
   after creation, nor logged.
4. ``webhook_deliveries`` is the delivery log: one row per (subscription, event); its
   ``sequence`` is the event log id the event came from, so a DMS can order events.
5. ``webhook_cursor`` (one row) is how far the relay has read the append-only event log; it
   moves in the same transaction that creates the deliveries (exactly-once fan-out).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from docnode.store.types import UTCDateTime

UUID_LEN = 36
SHA256_LEN = 64
ORGAN_ID_LEN = 35


def _req(type_: Any, *args: Any, **kw: Any) -> Any:
    return Field(sa_column=Column(type_, *args, nullable=False, **kw))


def _opt(type_: Any, *args: Any, **kw: Any) -> Any:
    return Field(default=None, sa_column=Column(type_, *args, nullable=True, **kw))


class ApiToken(SQLModel, table=True):
    """A clerk/DMS bearer token (rules 1, 2)."""

    __tablename__: ClassVar[str] = "api_tokens"

    id: str = _req(String(UUID_LEN), primary_key=True)
    name: str = _req(String(255))
    """Who holds it (shown as the actor ``clerk:<name>`` in the event log)."""
    token_sha256: str = _req(String(SHA256_LEN), unique=True)
    organ_ids: str = _req(Text)
    """JSON list of the OrganIds the token may act for."""
    created_at: datetime = _req(UTCDateTime)
    revoked_at: datetime | None = _opt(UTCDateTime)


class WebhookSubscription(SQLModel, table=True):
    """Where to POST events of one organisation (rule 3)."""

    __tablename__: ClassVar[str] = "webhook_subscriptions"
    __table_args__ = (Index("ix_webhook_subscriptions_organ", "organ_id"),)

    id: str = _req(String(UUID_LEN), primary_key=True)
    organ_id: str = _req(String(ORGAN_ID_LEN))
    url: str = _req(String(2048))
    secret: str = _req(Text)
    events: str = _req(Text)
    """JSON list of event types, or ``["*"]``."""
    active: bool = _req(Boolean)
    description: str = _req(Text)
    created_at: datetime = _req(UTCDateTime)
    updated_at: datetime = _req(UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription, and how its delivery went (rule 4)."""

    __tablename__: ClassVar[str] = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_sub_seq", "subscription_id", "sequence"),
    )

    id: str = _req(String(UUID_LEN), primary_key=True)
    subscription_id: str = _req(
        String(UUID_LEN),
        ForeignKey("webhook_subscriptions.id", name="fk_webhook_deliveries_subscription",
                   ondelete="CASCADE"))
    sequence: int = _req(Integer)
    event_type: str = _req(String(64))
    document_id: str | None = _opt(String(UUID_LEN))
    payload: str = _req(Text)
    """The exact JSON body POSTed (canonical JSON), signed as is."""
    state: str = _req(String(16))
    """``pending`` | ``delivered`` | ``failed`` (attempts used up)."""
    attempts: int = _req(Integer)
    last_status: int | None = _opt(Integer)
    last_error: str | None = _opt(Text)
    created_at: datetime = _req(UTCDateTime)
    updated_at: datetime = _req(UTCDateTime)
    delivered_at: datetime | None = _opt(UTCDateTime)


class WebhookCursor(SQLModel, table=True):
    """How far the webhook relay has read the event log (rule 5)."""

    __tablename__: ClassVar[str] = "webhook_cursor"

    id: int = _req(Integer, primary_key=True, autoincrement=False)
    last_event_id: int = _req(Integer)


API_TABLES = (ApiToken, WebhookSubscription, WebhookDelivery, WebhookCursor)
"""The API's tables, in dependency order."""
