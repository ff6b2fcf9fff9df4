"""Store-backed parts of dispatch: the sender that loads and pushes a stored packet, and the
recorder that writes each attempt's outcome (DESIGN §4, §5; rules in ``docnode.dispatch``).

Rules:
1. The bytes sent are the stored blob of the document row, exactly (signed once).
2. Each outcome is ONE transaction: the queue's complete/retry/dead-letter (which checks the
   lease), the delivery row and an append-only event with the evidence.
3. For an edoc delivered over the direct transport, the verified receipt is the recipient's
   status 01 (``docnode.service`` rule 3): it is recorded as the delivery's status.
4. The receipt bytes are kept as a blob (content-addressed) BEFORE the transaction names them.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from docnode import errors
from docnode.directory import Route, RouteKind
from docnode.group_commit import GroupCommitter
from docnode.logging import bind, get_logger
from docnode.queue import Queue, QueueItem, RetryDecision
from docnode.store import DeliveryState, EventKind, Store, Transaction, WorkKind
from docnode.store.sync_tx import SyncTransaction
from docnode.transport.direct_client import Delivery, DirectClient

log = get_logger("delivery")

SslFor = Callable[[str], ssl.SSLContext | None]


class AxisDeliverer(Protocol):
    """Sends a stored packet to the VXP axis (``docnode.axis_poller.AxisSender``)."""

    async def deliver(self, data: bytes, *, kind: WorkKind, sender: str,
                      recipient: str) -> Delivery: ...


class StoredPacketSender:
    """``dispatch.ItemSender``: pushes the stored packet of a delivery on its stored route."""

    def __init__(self, store: Store, client: DirectClient, *,
                 ssl_for: SslFor = lambda _organ: None,
                 axis: AxisDeliverer | None = None) -> None:
        self._store = store
        self._client = client
        self._ssl_for = ssl_for
        self._axis = axis

    async def send(self, item: QueueItem) -> Delivery:
        if item.kind not in (WorkKind.DELIVER_EDOC, WorkKind.DELIVER_STATUS):
            raise errors.InternalError(f"no sender for work kind {item.kind}")
        packet = await self._store.read_sync(lambda tx: tx.packet_to_send(item.ref))
        if packet is None:
            raise errors.NotFound(f"delivery {item.ref} is gone",
                                  detail={"delivery_id": item.ref})
        route = Route.parse(packet.route)
        recipient = packet.recipient_organ_id
        with bind(document_id=packet.edxml_document_id, organ_id=recipient,
                  peer=route.url or "axis"):
            if route.kind is RouteKind.AXIS and self._axis is not None:
                data = await self._store.blobs.get(packet.packet_sha256)
                return await self._axis.deliver(data, kind=item.kind,
                                                sender=packet.from_organ_id,
                                                recipient=recipient)
            if route.kind is not RouteKind.DIRECT or route.url is None:
                raise errors.PeerRejected(
                    "the axis transport is not part of this build",
                    detail={"route": packet.route})
            data = await self._store.blobs.get(packet.packet_sha256)
            return await self._client.deliver(
                route.url, data, document_id=packet.edxml_document_id,
                recipient=recipient, ssl_context=self._ssl_for(recipient),
            )


class StoreRecorder:
    """``dispatch.OutcomeRecorder`` over the store and the queue (rules 2-4)."""

    def __init__(self, store: Store, queue: Queue, *, actor: str,
                 writer: GroupCommitter | None = None) -> None:
        self._store = store
        self._queue = queue
        self._actor = actor
        self._writer = writer or GroupCommitter(store)

    async def delivered(self, item: QueueItem, delivery: Delivery, *, now: datetime) -> None:
        if delivery.axis_doc_id is not None:
            await self._axis_accepted(item, delivery.axis_doc_id, now=now)
            return
        receipt_sha = await self._store.blobs.put(delivery.receipt)

        def unit(tx: SyncTransaction) -> None:
            self._queue.complete_sync(item, tx=tx)
            document_id = tx.set_delivery_state(
                item.ref, DeliveryState.DELIVERED, now=now, attempts=item.attempts,
                next_attempt_at=None, last_error=None, receipt_sha256=receipt_sha)
            if item.kind is WorkKind.DELIVER_EDOC:
                tx.set_delivery_status(item.ref, "01", at=delivery.evidence.at or now, now=now)
            tx.append_event(
                kind=EventKind.DELIVERED, at=now, actor=self._actor,
                document_id=document_id, delivery_id=item.ref,
                evidence={"receipt_sha256": receipt_sha, "http_status": delivery.http_status,
                          "duplicate": delivery.duplicate, "attempts": item.attempts,
                          "receipt_signer": delivery.evidence.signer_organ_id,
                          "status_code": "01" if item.kind is WorkKind.DELIVER_EDOC else None},
            )

        # The hot path: concurrent outcomes share one commit (docnode.group_commit).
        await self._writer.run(unit)
        log.info("delivered", delivery_id=item.ref, attempts=item.attempts,
                 receipt_sha256=receipt_sha, duplicate=delivery.duplicate)

    async def _axis_accepted(self, item: QueueItem, axis_doc_id: str, *,
                             now: datetime) -> None:
        # The axis stored the packet (its DocId is the evidence); the recipient's own 01
        # comes back later as a signed status packet (``docnode.service`` rule 3).
        async with self._store.transaction() as tx:
            await self._queue.complete(item, tx=tx)
            row = await tx.set_delivery_state(
                item.ref, DeliveryState.DELIVERED, now=now, attempts=item.attempts,
                next_attempt_at=None, last_error=None, axis_doc_id=axis_doc_id)
            await tx.append_event(
                kind=EventKind.DELIVERED, at=now, actor=self._actor,
                document_id=row.document_id, delivery_id=row.id,
                evidence={"axis_doc_id": axis_doc_id, "attempts": item.attempts,
                          "route": "axis"},
            )
        log.info("delivered_to_axis", delivery_id=item.ref, axis_doc_id=axis_doc_id,
                 attempts=item.attempts)

    async def retry(
        self, item: QueueItem, *, error: str, detail: dict[str, object], delay_s: float,
        now: datetime,
    ) -> RetryDecision:
        async with self._store.transaction() as tx:
            decision = await self._queue.retry(item, tx=tx, error=error, now=now,
                                               delay_s=delay_s)
            if decision is RetryDecision.SCHEDULED:
                row = await tx.set_delivery_state(
                    item.ref, DeliveryState.QUEUED, now=now, attempts=item.attempts,
                    next_attempt_at=now + timedelta(seconds=delay_s), last_error=error)
                await tx.append_event(
                    kind=EventKind.RETRY_SCHEDULED, at=now, actor=self._actor,
                    document_id=row.document_id, delivery_id=row.id,
                    evidence={"error": error, "detail": detail, "attempts": item.attempts,
                              "delay_s": round(delay_s, 3)})
            else:
                await self._give_up(tx, item, decision, error=error, detail=detail, now=now)
        log.info("retry", delivery_id=item.ref, error=error, decision=decision.value,
                 attempts=item.attempts, delay_s=round(delay_s, 3))
        return decision

    async def failed(
        self, item: QueueItem, *, error: str, detail: dict[str, object], now: datetime
    ) -> None:
        reason = str(detail.get("peer_code", error))
        async with self._store.transaction() as tx:
            await self._queue.dead_letter(item, tx=tx, error=reason, now=now)
            row = await tx.set_delivery_state(
                item.ref, DeliveryState.FAILED, now=now, attempts=item.attempts,
                next_attempt_at=None, last_error=reason)
            await tx.append_event(
                kind=EventKind.FAILED, at=now, actor=self._actor, document_id=row.document_id,
                delivery_id=row.id,
                evidence={"error": error, "reason": reason, "detail": detail,
                          "attempts": item.attempts})
        log.warning("failed", delivery_id=item.ref, error=error, reason=reason)

    async def gave_up(
        self, item: QueueItem, *, decision: RetryDecision, error: str, now: datetime
    ) -> None:
        async with self._store.transaction() as tx:
            await self._queue.dead_letter(item, tx=tx, error=error, now=now)
            await self._give_up(tx, item, decision, error=error, detail={}, now=now)

    async def _give_up(self, tx: Transaction, item: QueueItem, decision: RetryDecision, *,
                       error: str, detail: dict[str, object], now: datetime) -> None:
        state, kind = (
            (DeliveryState.DEAD_LETTERED, EventKind.DEAD_LETTERED)
            if decision is RetryDecision.MAX_ATTEMPTS
            else (DeliveryState.EXPIRED, EventKind.EXPIRED)
        )
        row = await tx.set_delivery_state(item.ref, state, now=now, attempts=item.attempts,
                                          next_attempt_at=None, last_error=error)
        await tx.append_event(
            kind=kind, at=now, actor=self._actor, document_id=row.document_id,
            delivery_id=row.id,
            evidence={"why": decision.value, "last_error": error, "detail": detail,
                      "attempts": item.attempts})
        log.warning(kind.value, delivery_id=item.ref, why=decision.value, last_error=error)
