"""Delivering webhook events: signing, the POST, and recording the outcome; plus the kind
router that lets the node's ONE dispatcher drain ``webhook`` items beside packet deliveries.

Rules:
1. Signature: header ``Docnode-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
   "<t>." + body)>`` (the timestamp lets the DMS refuse replays). ``Docnode-Event`` carries
   the type, ``Docnode-Delivery`` the delivery id (the DMS's dedup key: at-least-once).
2. Success is any 2xx. 410 Gone is permanent (the DMS says the hook is gone); anything else —
   other statuses, timeouts, connection errors — is retried with the queue's backoff, so a
   failing receiver gets its events later. Events still pending when their subscription is
   made inactive are not sent (``failed``, "the subscription is inactive").
3. Order: an event is not sent while an earlier event of the same subscription is still
   pending; it waits its turn (a retry), so a receiver sees each subscription's events in
   sequence order, also after an outage.
4. The outcome is written with the queue's complete/retry/dead-letter in ONE transaction.
5. The secret is never logged; log lines carry the delivery id and the status only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

import aiohttp
from sqlalchemy import func, select
from sqlmodel import col

from docnode import errors
from docnode.api.tables import WebhookDelivery, WebhookSubscription
from docnode.api.webhooks import DELIVERED, FAILED, PENDING
from docnode.clock import Clock
from docnode.dispatch import ItemSender, OutcomeRecorder
from docnode.logging import get_logger
from docnode.queue import Queue, QueueItem, RetryDecision
from docnode.store import Store, Transaction, WorkKind
from docnode.transport.direct_client import Delivery, ReceiptEvidence

log = get_logger("webhooks")

SIGNATURE_HEADER = "Docnode-Signature"
EVENT_HEADER = "Docnode-Event"
DELIVERY_HEADER = "Docnode-Delivery"
MAX_ANSWER = 4096


def sign(secret: str, body: bytes, *, timestamp: int) -> str:
    """The ``Docnode-Signature`` value (rule 1)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str) -> bool:
    """Check a ``Docnode-Signature`` header (what a DMS does; used by the tests)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        return False
    expected = sign(secret, body, timestamp=int(parts["t"]))
    return hmac.compare_digest(expected, header)


class WebhookSender:
    """``dispatch.ItemSender`` for ``webhook`` items (rules 1-3)."""

    def __init__(self, store: Store, session: aiohttp.ClientSession, *, clock: Clock,
                 timeout_s: float = 10.0) -> None:
        self._store = store
        self._session = session
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def send(self, item: QueueItem) -> Delivery:
        async with self._store.reader() as tx:
            row = await tx.session.get(WebhookDelivery, item.ref)
            sub = None if row is None else await tx.session.get(
                WebhookSubscription, row.subscription_id)
            earlier = 0 if row is None else (await tx.session.execute(
                select(func.count()).select_from(WebhookDelivery).where(
                    col(WebhookDelivery.subscription_id) == row.subscription_id,
                    col(WebhookDelivery.state) == PENDING,
                    col(WebhookDelivery.sequence) < row.sequence))).scalar_one()
        if row is None or sub is None:
            raise errors.PeerRejected(f"webhook delivery {item.ref} is gone",
                                      detail={"webhook_delivery": item.ref})
        if not sub.active:
            raise errors.PeerRejected("the subscription is inactive",
                                      detail={"webhook_id": sub.id})
        if row.state != PENDING:
            raise errors.PeerRejected(f"webhook delivery {item.ref} is {row.state}",
                                      detail={"state": row.state})
        if earlier:
            raise errors.PeerUnavailable("an earlier event of this subscription is pending",
                                         detail={"waiting_for": int(earlier)})
        body = row.payload.encode("utf-8")
        now = self._clock.now()
        headers = {"Content-Type": "application/json",
                   SIGNATURE_HEADER: sign(sub.secret, body, timestamp=int(now.timestamp())),
                   EVENT_HEADER: row.event_type, DELIVERY_HEADER: row.id}
        try:
            async with self._session.post(sub.url, data=body, headers=headers,
                                          timeout=self._timeout, allow_redirects=False) as resp:
                answer = await resp.content.read(MAX_ANSWER)
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise errors.PeerUnavailable(f"webhook POST failed: {type(exc).__name__}",
                                         detail={"error": type(exc).__name__}) from exc
        if status == 410:
            raise errors.PeerRejected("the receiver says the hook is gone (410)",
                                      detail={"http_status": status})
        if not 200 <= status < 300:
            raise errors.PeerUnavailable(f"the receiver answered {status}",
                                         detail={"http_status": status})
        return Delivery(http_status=status, receipt=answer, duplicate=False,
                        evidence=ReceiptEvidence(
                            receipt_sha256=hashlib.sha256(answer).hexdigest(),
                            signer_organ_id="", at=now))


class WebhookRecorder:
    """``dispatch.OutcomeRecorder`` for ``webhook`` items (rule 4)."""

    def __init__(self, store: Store, queue: Queue) -> None:
        self._store = store
        self._queue = queue

    async def _row(self, tx: Transaction, item: QueueItem) -> WebhookDelivery | None:
        return await tx.session.get(WebhookDelivery, item.ref)

    async def delivered(self, item: QueueItem, delivery: Delivery, *, now: datetime) -> None:
        async with self._store.transaction() as tx:
            await self._queue.complete(item, tx=tx)
            row = await self._row(tx, item)
            if row is not None:
                row.state, row.attempts, row.last_status = DELIVERED, item.attempts, \
                    delivery.http_status
                row.last_error, row.updated_at, row.delivered_at = None, now, now
        log.info("webhook_delivered", webhook_delivery=item.ref, attempts=item.attempts)

    async def retry(self, item: QueueItem, *, error: str, detail: dict[str, object],
                    delay_s: float, now: datetime) -> RetryDecision:
        async with self._store.transaction() as tx:
            decision = await self._queue.retry(item, tx=tx, error=error, now=now,
                                               delay_s=delay_s)
            row = await self._row(tx, item)
            if row is not None:
                status = detail.get("http_status")
                row.attempts, row.updated_at = item.attempts, now
                row.last_status = status if isinstance(status, int) else row.last_status
                row.last_error = str(detail.get("error", error)) if "waiting_for" not in \
                    detail else "waiting for an earlier event"
                if decision is not RetryDecision.SCHEDULED:
                    row.state = FAILED
        log.info("webhook_retry", webhook_delivery=item.ref, error=error,
                 decision=decision.value)
        return decision

    async def failed(self, item: QueueItem, *, error: str, detail: dict[str, object],
                     now: datetime) -> None:
        async with self._store.transaction() as tx:
            row = await self._row(tx, item)
            if row is None:  # the subscription was deleted: nothing left to tell anyone
                await self._queue.complete(item, tx=tx)
                return
            await self._queue.dead_letter(item, tx=tx, error=error, now=now)
            status = detail.get("http_status")
            row.state, row.attempts, row.updated_at = FAILED, item.attempts, now
            row.last_status = status if isinstance(status, int) else row.last_status
            row.last_error = error
        log.warning("webhook_failed", webhook_delivery=item.ref, error=error)

    async def gave_up(self, item: QueueItem, *, decision: RetryDecision, error: str,
                      now: datetime) -> None:
        async with self._store.transaction() as tx:
            await self._queue.dead_letter(item, tx=tx, error=error, now=now)
            row = await self._row(tx, item)
            if row is not None:
                row.state, row.updated_at, row.last_error = FAILED, now, error


class RoutedSender:
    """One ``ItemSender`` per work kind; any other kind goes to ``default``."""

    def __init__(self, default: ItemSender, by_kind: Mapping[WorkKind, ItemSender]) -> None:
        self._default = default
        self._by_kind = dict(by_kind)

    async def send(self, item: QueueItem) -> Delivery:
        return await self._by_kind.get(item.kind, self._default).send(item)


class RoutedRecorder:
    """One ``OutcomeRecorder`` per work kind; any other kind goes to ``default``."""

    def __init__(self, default: OutcomeRecorder,
                 by_kind: Mapping[WorkKind, OutcomeRecorder]) -> None:
        self._default = default
        self._by_kind = dict(by_kind)

    def _for(self, item: QueueItem) -> OutcomeRecorder:
        return self._by_kind.get(item.kind, self._default)

    async def delivered(self, item: QueueItem, delivery: Delivery, *, now: datetime) -> None:
        await self._for(item).delivered(item, delivery, now=now)

    async def retry(self, item: QueueItem, *, error: str, detail: dict[str, object],
                    delay_s: float, now: datetime) -> RetryDecision:
        return await self._for(item).retry(item, error=error, detail=detail, delay_s=delay_s,
                                           now=now)

    async def failed(self, item: QueueItem, *, error: str, detail: dict[str, object],
                     now: datetime) -> None:
        await self._for(item).failed(item, error=error, detail=detail, now=now)

    async def gave_up(self, item: QueueItem, *, decision: RetryDecision, error: str,
                      now: datetime) -> None:
        await self._for(item).gave_up(item, decision=decision, error=error, now=now)


def with_webhooks(sender: ItemSender, recorder: OutcomeRecorder, *, store: Store,
                  queue: Queue, session: aiohttp.ClientSession,
                  clock: Clock) -> tuple[RoutedSender, RoutedRecorder]:
    """The dispatcher's sender and recorder with ``webhook`` items routed here."""
    return (RoutedSender(sender, {WorkKind.WEBHOOK: WebhookSender(store, session, clock=clock)}),
            RoutedRecorder(recorder, {WorkKind.WEBHOOK: WebhookRecorder(store, queue)}))
