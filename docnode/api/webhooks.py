"""Webhooks to the agency's DMS: subscriptions, and the relay from the event log to the
durable queue.

Rules:
1. Source of events: the store's append-only, hash-chained event log. The relay reads it in
   order past its cursor and, in ONE transaction, writes one ``webhook_deliveries`` row per
   matching active subscription, enqueues a ``webhook`` work item for each (``ref`` = that
   row's id) and moves the cursor. So every event is announced exactly once per subscription,
   whatever crashes, and no use case had to know about webhooks.
2. Announced: arrival of a document (``document.received``), every status change
   (``status.received`` from a recipient, ``status.sent`` by our clerks), and the fate of
   what we send (``document.submitted``, ``document.delivered``, ``document.failed``,
   ``document.expired``, ``document.dead_lettered``). Only edoc documents (a status packet's
   own row is announced through the document it is about).
3. The body is canonical JSON, fixed at relay time (retries send the same bytes); the
   signature (``docnode.api.webhook_delivery``) is computed per attempt over a timestamp and
   those bytes.
4. A subscription's secret is returned once, when it is created or rotated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import bindparam, func, select, update
from sqlmodel import col

from docnode import errors
from docnode.api.tables import WebhookCursor, WebhookDelivery, WebhookSubscription
from docnode.clock import Clock
from docnode.logging import get_logger
from docnode.store import Document, DocumentKind, Event, EventKind, Store, WorkKind
from docnode.store.sync_tx import SyncTransaction
from docnode.store.types import canonical_json

log = get_logger("webhooks")

EVENT_TYPES: dict[str, str] = {
    EventKind.RECEIVED: "document.received",
    EventKind.STATUS_RECEIVED: "status.received",
    EventKind.STATUS_SENT: "status.sent",
    EventKind.SUBMITTED: "document.submitted",
    EventKind.DELIVERED: "document.delivered",
    EventKind.FAILED: "document.failed",
    EventKind.EXPIRED: "document.expired",
    EventKind.DEAD_LETTERED: "document.dead_lettered",
}
ALL_EVENTS = "*"
CURSOR_ID = 1
BATCH = 200
WAKE_GAP_S = 0.05
"""Least time between two relay passes (webhooks wait at most this much longer)."""
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def check_url(url: object, problems: list[dict[str, str]], field: str = "url") -> str:
    if not isinstance(url, str) or not url:
        problems.append({"field": field, "message": "expected an http(s) URL"})
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048:
        problems.append({"field": field, "message": "expected an http(s) URL"})
    return url


def check_events(value: object, problems: list[dict[str, str]]) -> list[str]:
    if value is None:
        return [ALL_EVENTS]
    known = {*EVENT_TYPES.values(), ALL_EVENTS}
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        problems.append({"field": "events", "message": "expected a non-empty list of strings"})
        return [ALL_EVENTS]
    for i, v in enumerate(value):
        if v not in known:
            problems.append({"field": f"events[{i}]", "message": "unknown event type"})
    return list(dict.fromkeys(value))


def subscription_view(row: WebhookSubscription, *, secret: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": row.id, "organ_id": row.organ_id, "url": row.url,
        "events": json.loads(row.events), "active": row.active,
        "description": row.description, "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat()}
    if secret:
        body["secret"] = row.secret
    return body


def delivery_log_view(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": row.id, "subscription_id": row.subscription_id, "sequence": row.sequence,
        "event_type": row.event_type, "document_id": row.document_id, "state": row.state,
        "attempts": row.attempts, "last_status": row.last_status,
        "last_error": row.last_error, "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "delivered_at": None if row.delivered_at is None else row.delivered_at.isoformat()}


def _payload(event: Event, doc: Document, event_type: str, delivery_id: str) -> dict[str, Any]:
    evidence = json.loads(event.evidence or "{}")
    return {
        "id": delivery_id, "type": event_type, "sequence": event.id,
        "occurred_at": event.at.isoformat(), "organ_id": doc.organ_id,
        "document": {"id": doc.id, "direction": str(doc.direction),
                     "edxml_document_id": doc.edxml_document_id,
                     "counterparty": doc.counterparty, "subject": doc.subject,
                     "code": doc.code},
        "delivery_id": event.delivery_id,
        "status_code": evidence.get("status_code"),
        "evidence": evidence,
    }


class WebhookRelay:
    """Rule 1: event log -> webhook deliveries + queue items. ``run`` loops until stopped;
    ``relay_once`` does one batch (tests call it directly)."""

    def __init__(self, store: Store, *, clock: Clock, on_queued: Callable[[], None],
                 poll_interval_s: float = 1.0) -> None:
        self._store = store
        self._clock = clock
        self._on_queued = on_queued
        self._poll = poll_interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def relay_once(self) -> int:
        """Relay one batch; returns how many events were read (passed, when there is no
        active subscription; then never a full batch, so ``run`` waits for the next poll)."""
        passed = await self._store.run_sync(_pass_unannounced)
        if passed is not None:
            return passed
        now = self._clock.now()
        async with self._store.transaction() as tx:
            cursor = await tx.session.get(WebhookCursor, CURSOR_ID, with_for_update=True)
            if cursor is None:
                cursor = WebhookCursor(id=CURSOR_ID, last_event_id=0)
                tx.session.add(cursor)
            subs: dict[str, list[WebhookSubscription]] = {}
            for s in (await tx.session.execute(
                    select(WebhookSubscription).where(col(WebhookSubscription.active))
                    .order_by(col(WebhookSubscription.created_at)))).scalars():
                subs.setdefault(s.organ_id, []).append(s)
            if not subs:
                # Nobody to announce to: pass the events without loading them (what the
                # loop below would do in batches, at a fraction of the cost on a busy node).
                last = (await tx.session.execute(select(func.max(col(Event.id))))).scalar()
                passed = max(0, int(last or 0) - cursor.last_event_id)
                if passed:
                    cursor.last_event_id += passed
                return min(passed, BATCH - 1)
            events = list((await tx.session.execute(
                select(Event).where(col(Event.id) > cursor.last_event_id)
                .order_by(col(Event.id)).limit(BATCH))).scalars().all())
            if not events:
                return 0
            doc_ids = {e.document_id for e in events if e.document_id}
            docs = {d.id: d for d in (await tx.session.execute(
                select(Document).where(col(Document.id).in_(doc_ids)))).scalars()}
            queued = 0
            for event in events:
                event_type = EVENT_TYPES.get(event.kind)
                doc = docs.get(event.document_id or "")
                if event_type is None or doc is None or doc.kind != DocumentKind.EDOC:
                    continue
                for sub in subs.get(doc.organ_id, []):
                    wanted = json.loads(sub.events)
                    if ALL_EVENTS not in wanted and event_type not in wanted:
                        continue
                    row_id = str(uuid.uuid4())
                    tx.session.add(WebhookDelivery(
                        id=row_id, subscription_id=sub.id, sequence=event.id,
                        event_type=event_type, document_id=doc.id,
                        payload=canonical_json(_payload(event, doc, event_type, row_id)),
                        state=PENDING, attempts=0, last_status=None, last_error=None,
                        created_at=now, updated_at=now, delivered_at=None))
                    await tx.session.flush()
                    await tx.enqueue(WorkKind.WEBHOOK, row_id, now=now)
                    queued += 1
            cursor.last_event_id = events[-1].id
            if queued:
                tx.after_commit(self._on_queued)
        return len(events)

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                read = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep relaying: the cursor did not move, nothing is lost
                log.exception("webhook_relay_failed")
                read = 0
            if read < BATCH:
                # Wakes come with every API call and commit: on a busy node, gather them
                # for a moment instead of one relay transaction each.
                await asyncio.sleep(min(WAKE_GAP_S, self._poll))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="docnode-webhook-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


_SUBS = WebhookSubscription.__table__  # type: ignore[attr-defined]  # sqlmodel sets it
_CURSORS = WebhookCursor.__table__  # type: ignore[attr-defined]
_ANY_ACTIVE = select(_SUBS.c.id).where(_SUBS.c.active.is_(True)).limit(1)
_CURSOR_FOR_UPDATE = (select(_CURSORS.c.last_event_id).where(_CURSORS.c.id == CURSOR_ID)
                      .with_for_update())
_LAST_EVENT = select(func.max(col(Event.id)))
_SET_CURSOR = (update(_CURSORS).where(_CURSORS.c.id == CURSOR_ID)
               .values(last_event_id=bindparam("last")))


def _pass_unannounced(tx: SyncTransaction) -> int | None:
    """With no active subscription, move the cursor past every event in one short unit in
    the store's thread (no events loaded, no ORM: the relay is woken by every submit) and
    return how many it passed (never a full batch); ``None``: there are subscriptions, or no
    cursor row yet — the full relay below handles those."""
    if tx.execute(_ANY_ACTIVE).first() is not None:
        return None
    cursor = tx.execute(_CURSOR_FOR_UPDATE).scalar()
    if cursor is None:
        return None
    last = int(tx.execute(_LAST_EVENT).scalar() or 0)
    passed = max(0, last - int(cursor))
    if passed:
        tx.execute(_SET_CURSOR, {"last": last})
    return min(passed, BATCH - 1)


class Subscriptions:
    """CRUD of webhook subscriptions and their delivery log (rule 4)."""

    def __init__(self, store: Store, *, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def create(self, *, organ_id: str, url: str, events: Sequence[str],
                     description: str = "", secret: str | None = None) -> WebhookSubscription:
        now = self._clock.now()
        row = WebhookSubscription(id=str(uuid.uuid4()), organ_id=organ_id, url=url,
                                  secret=secret or new_secret(), events=json.dumps(list(events)),
                                  active=True, description=description, created_at=now,
                                  updated_at=now)
        async with self._store.transaction() as tx:
            tx.session.add(row)
        return row

    async def get(self, sub_id: str) -> WebhookSubscription:
        async with self._store.reader() as tx:
            row = await tx.session.get(WebhookSubscription, sub_id)
        if row is None:
            raise errors.NotFound(f"no webhook {sub_id}", detail={"webhook_id": sub_id})
        return row

    async def list_for(self, organ_ids: Sequence[str]) -> list[WebhookSubscription]:
        async with self._store.reader() as tx:
            return list((await tx.session.execute(
                select(WebhookSubscription)
                .where(col(WebhookSubscription.organ_id).in_(list(organ_ids)))
                .order_by(col(WebhookSubscription.created_at)))).scalars().all())

    async def update(self, sub_id: str, *, url: str | None = None,
                     events: Sequence[str] | None = None, active: bool | None = None,
                     description: str | None = None,
                     rotate_secret: bool = False) -> WebhookSubscription:
        async with self._store.transaction() as tx:
            row = await tx.session.get(WebhookSubscription, sub_id)
            if row is None:
                raise errors.NotFound(f"no webhook {sub_id}", detail={"webhook_id": sub_id})
            if url is not None:
                row.url = url
            if events is not None:
                row.events = json.dumps(list(events))
            if active is not None:
                row.active = active
            if description is not None:
                row.description = description
            if rotate_secret:
                row.secret = new_secret()
            row.updated_at = self._clock.now()
        return row

    async def delete(self, sub_id: str) -> None:
        async with self._store.transaction() as tx:
            row = await tx.session.get(WebhookSubscription, sub_id)
            if row is None:
                raise errors.NotFound(f"no webhook {sub_id}", detail={"webhook_id": sub_id})
            # Keep the delivery log with the subscription's lifetime: rows go with it.
            for d in (await tx.session.execute(select(WebhookDelivery).where(
                    col(WebhookDelivery.subscription_id) == sub_id))).scalars():
                await tx.session.delete(d)
            await tx.session.delete(row)

    async def deliveries(self, sub_id: str, *, limit: int,
                         before: int | None) -> list[WebhookDelivery]:
        """The delivery log, newest event first."""
        q = select(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == sub_id)
        if before is not None:
            q = q.where(col(WebhookDelivery.sequence) < before)
        q = q.order_by(col(WebhookDelivery.sequence).desc()).limit(limit)
        async with self._store.reader() as tx:
            return list((await tx.session.execute(q)).scalars().all())
