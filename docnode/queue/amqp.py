"""The ``amqp`` queue backend: RabbitMQ carries outbox row ids to the workers (issue 8).

Rules (besides those of :mod:`docnode.queue`, which all hold):
1. The store stays the single source of truth. Items are still enqueued as ``outbox`` rows in
   the use case's transaction; the :class:`~docnode.queue.relay.OutboxRelay` publishes their
   ids. A message is only a hint that row N may be due: everything a worker does is decided
   by the row.
2. A CLAIM takes messages the consumer was given (at most the prefetch limit, so the work
   spreads over processes) and leases their rows with the ``sql`` backend's lease rules, in
   ONE statement (``UPDATE … WHERE id IN (…) AND due RETURNING``). A message whose row is
   gone or dead (already done) is acknowledged and skipped: consumers are idempotent, so a
   redelivery or a second copy never causes a second send. A message whose row is not due
   yet (a retry waiting, or a live lease of another worker that may have crashed) is moved
   to a delay queue for the remaining time, then acknowledged.
3. A message is ACKNOWLEDGED only after the item's outcome is committed in the store
   (``complete``/``retry``/``dead_letter`` register the ack as an ``after_commit`` callback
   of the outcome's transaction). A worker that dies before has its messages redelivered by
   the broker; the row's lease decides who may act.
4. A retry is a store change (due time, error) like in the ``sql`` backend; the relay then
   publishes the id into the delay queue for the backoff. A dead-lettered item's id is also
   published to the dead-letter queue ``P.dead`` for operators (the row, state ``dead``,
   remains the record).
5. Stale messages (from a connection that has since dropped) are not claimed: they can no
   longer be acknowledged, and the broker redelivers them on the new connection.
6. A claimed message whose lease expired without an outcome (recording it failed) is handed
   back to the broker (``nack`` with requeue) at the next claim, so the item is taken again
   as with the ``sql`` backend's expired leases.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from sqlalchemy import Table, and_, or_, select, update

from docnode.logging import get_logger
from docnode.queue.amqp_link import DEAD_KEY, AmqpLink
from docnode.queue.model import QueueItem, QueueStats, RetryDecision, RetryPolicy
from docnode.queue.sql import DEFAULT_POLICY, SqlQueue
from docnode.store import OutboxItem, OutboxState, Store, Transaction, WorkKind
from docnode.store.sync_tx import SyncTransaction

log = get_logger("queue.amqp")

_T: Table = OutboxItem.metadata.tables["outbox"]
_C = _T.c

RELAY_OWNER = "~relay"
"""``lease_owner`` of a READY row whose id the relay has published (rule 1 of the relay)."""


class AmqpQueue:
    """The ``amqp`` backend of :class:`docnode.queue.Queue` (rules above)."""

    def __init__(self, store: Store, *, policy: RetryPolicy = DEFAULT_POLICY,
                 republish_after_s: float = 300.0,
                 on_message: Callable[[], None] | None = None,
                 on_outcome: Callable[[], None] | None = None) -> None:
        self._store = store
        self.sql = SqlQueue(store, policy=policy)
        """Lease bookkeeping and statistics on the ``outbox`` table (shared with ``sql``)."""
        self.policy = policy
        self.engine = self.sql.engine
        self.link: AmqpLink | None = None
        """Set by :meth:`attach` (composition in ``docnode.app``)."""
        self._republish_after_s = republish_after_s
        self._on_message = on_message
        self._on_outcome = on_outcome
        self._inbox: asyncio.Queue[tuple[AbstractIncomingMessage, int]] = asyncio.Queue()
        self._held: dict[int, tuple[AbstractIncomingMessage, datetime]] = {}
        """Claimed item id -> its message and the lease expiry (rule 6)."""

    def attach(self, link: AmqpLink) -> None:
        self.link = link

    def set_on_message(self, callback: Callable[[], None]) -> None:
        """Called when a message arrives (the dispatcher's ``wake``)."""
        self._on_message = callback

    def set_on_outcome(self, callback: Callable[[], None]) -> None:
        """Called after an outcome that changed the outbox committed (the relay's ``wake``)."""
        self._on_outcome = callback

    def deliver(self, message: AbstractIncomingMessage, generation: int) -> None:
        """The link's consumer hand-off (``amqp_link.Deliver``)."""
        self._inbox.put_nowait((message, generation))
        if self._on_message is not None:
            self._on_message()

    @property
    def buffered(self) -> int:
        return self._inbox.qsize()

    # --- Queue protocol ---------------------------------------------------------------

    async def claim(self, worker_id: str, *, limit: int, lease_s: float,
                    now: datetime) -> Sequence[QueueItem]:
        """Lease the rows of up to ``limit`` received messages (rule 2)."""
        await self._give_back_expired(now)
        batch: dict[int, AbstractIncomingMessage] = {}
        current = self.link.generation if self.link is not None else -1
        while len(batch) < limit and not self._inbox.empty():
            message, generation = self._inbox.get_nowait()
            if generation != current:
                continue  # rule 5
            item_id = _item_id(message)
            if item_id is None or item_id in batch or item_id in self._held:
                await _settle(message, ack=True)  # junk, or a second copy in hand
                continue
            batch[item_id] = message
        if not batch:
            return []
        stmt = _claim_ids(list(batch), worker_id, lease_s=lease_s, now=now)
        try:
            async with self._store.write_gate(), self.engine.begin() as conn:
                rows = (await conn.execute(stmt)).all()
        except BaseException:
            # The store is away (or we are cancelled): the messages stay ours, unacknowledged,
            # for the next claim. Dropping them here left them unacknowledged at the broker
            # for good: once the prefetch window was full of them, nothing was delivered any
            # more and the worker stalled until its connection closed.
            for message in batch.values():
                self._inbox.put_nowait((message, current))
            raise
        items = [QueueItem(id=r.id, kind=WorkKind(r.kind), ref=r.ref, attempts=r.attempts,
                           lease_owner=r.lease_owner, lease_token=r.lease_token,
                           lease_expires_at=r.lease_expires_at, created_at=r.created_at,
                           last_error=r.last_error)
                 for r in sorted(rows, key=lambda r: (r.next_attempt_at, r.id))]
        for item in items:
            self._held[item.id] = (batch.pop(item.id), item.lease_expires_at)
        if batch:
            try:
                await self._not_claimed(batch, now=now)
            except Exception:
                # Same as above for the ids another worker holds: try them again next time;
                # the claimed items are ours already and go on.
                for message in batch.values():
                    self._inbox.put_nowait((message, current))
                log.warning("amqp_not_claimed_deferred", items=len(batch))
        return items

    async def complete(self, item: QueueItem, *, tx: Transaction) -> None:
        await self.sql.complete(item, tx=tx)
        tx.after_commit(self._acker(item.id))

    def complete_sync(self, item: QueueItem, *, tx: SyncTransaction) -> None:
        self.sql.complete_sync(item, tx=tx)
        tx.after_commit(self._acker(item.id))

    async def retry(self, item: QueueItem, *, tx: Transaction, error: str, now: datetime,
                    delay_s: float | None = None) -> RetryDecision:
        decision = await self.sql.retry(item, tx=tx, error=error, now=now, delay_s=delay_s)
        if decision is RetryDecision.SCHEDULED:
            tx.after_commit(self._acker(item.id, outcome=True))
        return decision  # otherwise dead_letter() registered its own callbacks

    async def dead_letter(self, item: QueueItem, *, tx: Transaction, error: str,
                          now: datetime) -> None:
        await self.sql.dead_letter(item, tx=tx, error=error, now=now)
        message_id = f"dead:{item.id}:{item.lease_token}"

        async def park() -> None:
            if self.link is not None:
                try:
                    await self.link.publish(DEAD_KEY, str(item.id).encode(),
                                            message_id=message_id)
                except Exception as exc:  # informational copy; the row is the record
                    log.warning("dead_letter_publish_failed", item=item.id,
                                error=type(exc).__name__)
            await self._acker(item.id)()

        tx.after_commit(park)

    async def extend(self, item: QueueItem, *, lease_s: float, now: datetime) -> QueueItem:
        renewed = await self.sql.extend(item, lease_s=lease_s, now=now)
        if item.id in self._held:
            self._held[item.id] = (self._held[item.id][0], renewed.lease_expires_at)
        return renewed

    async def release(self, worker_id: str, *, now: datetime) -> int:
        """Graceful shutdown: held rows back to ready (attempt not counted; the relay
        publishes them again, so their messages are acknowledged), buffered messages back to
        the broker (``nack`` with requeue), so that nothing waits for a lease to expire."""
        count = await self.sql.release(worker_id, now=now)
        held, self._held = list(self._held.values()), {}
        for message, _expiry in held:
            await _settle(message, ack=True)
        while not self._inbox.empty():
            await _settle(self._inbox.get_nowait()[0], ack=False)
        if self._on_outcome is not None:
            self._on_outcome()  # the released rows are unpublished now: the relay sends them
        return count

    async def stats(self, *, now: datetime) -> QueueStats:
        return await self.sql.stats(now=now)

    # --- internals --------------------------------------------------------------------

    def _acker(self, item_id: int, *, outcome: bool = False) -> Callable[[], Any]:
        async def ack() -> None:
            held = self._held.pop(item_id, None)
            if held is not None:
                await _settle(held[0], ack=True)
            if outcome and self._on_outcome is not None:
                self._on_outcome()

        return ack

    async def _give_back_expired(self, now: datetime) -> None:
        # Rule 6: an attempt whose outcome could not be recorded (the store went away, a bug)
        # never acknowledges; once its lease has expired the message goes back to the broker
        # so that a worker (maybe this one) takes the item again.
        expired = [i for i, (_m, expiry) in self._held.items() if expiry < now]
        for item_id in expired:
            message, _expiry = self._held.pop(item_id)
            await _settle(message, ack=False)

    async def _not_claimed(self, batch: dict[int, AbstractIncomingMessage], *,
                           now: datetime) -> None:
        q = select(_C.id, _C.state, _C.next_attempt_at, _C.lease_expires_at).where(
            _C.id.in_(list(batch)))
        async with self.engine.connect() as conn:
            rows = {r.id: r for r in (await conn.execute(q)).all()}
        for item_id, message in batch.items():
            row = rows.get(item_id)
            if row is None or row.state == OutboxState.DEAD:
                await _settle(message, ack=True)  # done already: idempotent skip
                continue
            due = row.next_attempt_at if row.state == OutboxState.READY else \
                row.lease_expires_at
            wait_s = max(0.0, (due - now).total_seconds()) if due is not None else 0.0
            await self._defer(item_id, message, wait_s)

    async def _defer(self, item_id: int, message: AbstractIncomingMessage,
                     wait_s: float) -> None:
        if self.link is None:
            return
        try:
            await self.link.publish_delayed(str(item_id).encode(), delay_s=wait_s,
                                            message_id=message.message_id or str(item_id))
        except Exception as exc:
            # Not acknowledged: the broker redelivers it after the connection is back.
            log.warning("defer_failed", item=item_id, error=type(exc).__name__)
            return
        await _settle(message, ack=True)


def _item_id(message: AbstractIncomingMessage) -> int | None:
    try:
        return int(message.body.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        log.warning("amqp_junk_message", message_id=message.message_id)
        return None


async def _settle(message: AbstractIncomingMessage, *, ack: bool) -> None:
    # A channel that closed meanwhile cannot settle: the broker redelivers the message, and
    # the consumer's idempotence (rule 2) makes that harmless.
    try:
        if ack:
            await message.ack()
        else:
            await message.nack(requeue=True)
    except Exception as exc:
        log.debug("amqp_settle_failed", error=type(exc).__name__)


def _claim_ids(ids: list[int], worker_id: str, *, lease_s: float, now: datetime) -> Any:
    due = or_(and_(_C.state == OutboxState.READY, _C.next_attempt_at <= now),
              and_(_C.state == OutboxState.LEASED, _C.lease_expires_at < now))
    return (
        update(_T).where(_C.id.in_(ids), due)
        .values(state=OutboxState.LEASED, lease_owner=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_s),
                attempts=_C.attempts + 1, lease_token=_C.lease_token + 1, updated_at=now)
        .returning(_C.id, _C.kind, _C.ref, _C.attempts, _C.lease_owner, _C.lease_token,
                   _C.lease_expires_at, _C.created_at, _C.last_error, _C.next_attempt_at)
    )
