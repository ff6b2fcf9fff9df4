"""The transactional outbox relay: every committed ``outbox`` row gets its id published to the
broker, at least once (issue 8; the ``amqp`` backend's rules are in :mod:`docnode.queue.amqp`).

Rules:
1. Publication state lives in the row, never only in memory. A READY row whose
   ``lease_owner`` is NULL is *unpublished* (just enqueued, retried, or released). The relay
   RESERVES a batch (``lease_owner = '~relay:<id>'``, expiring after ``reserve_s``; ``FOR
   UPDATE SKIP LOCKED`` on PostgreSQL so relays of several processes take different rows),
   PUBLISHES each id and waits for the broker's confirm, then MARKS the row published
   (``lease_owner = '~relay'``, ``lease_expires_at`` = due time + ``republish_after_s``).
   A crash anywhere in between leaves the row unpublished or with an expiring reservation:
   the next sweep (this process after a restart, or any other) publishes it. A row is never
   marked before its confirm, so a committed document is always published; a crash after
   the confirm and before the mark publishes it twice, which consumers tolerate.
2. A due row goes to the work queue; a row due later (a retry's backoff) to the delay queue
   for the remaining time.
3. Safety net: a published row still READY ``republish_after_s`` after it was due, or a
   LEASED row whose lease expired that long ago, is published again (a message the broker
   lost, e.g. a queue deleted by an operator). Leases are otherwise recovered by the broker,
   which redelivers the unacknowledged message of a worker that died.
4. A sweep runs at start (recovery), whenever a local commit enqueued work (``wake``), and
   every ``interval_s`` (work enqueued by other processes, broker reconnections). Without a
   broker connection it does nothing; rows simply stay unpublished until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, bindparam, or_, select, update

from docnode.clock import Clock
from docnode.dispatch import worker_id
from docnode.errors import QueueUnavailable
from docnode.logging import get_logger
from docnode.queue.amqp import RELAY_OWNER
from docnode.queue.amqp_link import WORK_KEY, AmqpLink
from docnode.store import OutboxItem, OutboxState, Store
from docnode.store.types import UTCDateTime

log = get_logger("queue.relay")

_T: Table = OutboxItem.metadata.tables["outbox"]
_C = _T.c


class OutboxRelay:
    """Publishes outbox rows (rules above). One per process; they cooperate."""

    def __init__(self, store: Store, link: AmqpLink, *, clock: Clock,
                 republish_after_s: float = 300.0, batch: int = 500,
                 interval_s: float = 1.0, reserve_s: float = 30.0) -> None:
        self._store = store
        self._link = link
        self._clock = clock
        self._republish = timedelta(seconds=republish_after_s)
        self._batch = batch
        self._interval_s = interval_s
        self._reserve = timedelta(seconds=reserve_s)
        self.relay_id = f"{RELAY_OWNER}:{worker_id()}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        """Ids published by this relay (metrics, tests)."""

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="docnode-outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if self._link.ready:
                try:
                    await self.sweep()
                except QueueUnavailable as exc:
                    log.warning("relay_broker_unavailable", error=exc.message)
                except Exception:
                    log.exception("relay_sweep_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)

    async def sweep(self) -> int:
        """Publish every unpublished (or stale) row now; returns how many were published.
        Raises ``QueueUnavailable`` when the broker went away mid-sweep."""
        total = 0
        while True:
            now = self._clock.now()
            rows = await self._reserve_batch(now)
            if not rows:
                return total
            done = await self._publish(rows, now)
            await self._mark(done, [r.id for r in rows if r.id not in {d for d, _ in done}])
            total += len(done)
            self.published += len(done)
            if len(done) < len(rows):
                raise QueueUnavailable(f"{len(rows) - len(done)} ids not confirmed by the "
                                       f"broker at {self._link.location}")
            if len(rows) < self._batch:
                return total

    async def _reserve_batch(self, now: datetime) -> Sequence[Any]:
        stale = now - self._republish
        dialect = self._store.engine.dialect.name
        reap = (update(_T)
                .where(_C.state == OutboxState.LEASED, _C.lease_expires_at < stale)
                .values(state=OutboxState.READY, lease_owner=None, lease_expires_at=None,
                        updated_at=now))
        wanted = and_(_C.state == OutboxState.READY, or_(
            _C.lease_owner.is_(None),
            and_(_C.lease_owner.like(f"{RELAY_OWNER}%"), _C.lease_expires_at < now)))
        pick = select(_C.id).where(wanted).order_by(_C.id).limit(self._batch)
        if dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        reserve = (update(_T).where(_C.id.in_(pick.scalar_subquery()))
                   .values(lease_owner=self.relay_id, lease_expires_at=now + self._reserve)
                   .returning(_C.id, _C.next_attempt_at))
        async with self._store.write_gate(), self._store.engine.begin() as conn:
            await conn.execute(reap)
            return (await conn.execute(reserve)).all()

    async def _publish(self, rows: Sequence[Any], now: datetime) -> list[tuple[int, datetime]]:
        async def one(row: Any) -> tuple[int, datetime] | None:
            body = str(row.id).encode()
            wait_s = (row.next_attempt_at - now).total_seconds()
            try:
                if wait_s > 0:
                    await self._link.publish_delayed(body, delay_s=wait_s,
                                                     message_id=str(row.id))
                else:
                    await self._link.publish(WORK_KEY, body, message_id=str(row.id))
            except QueueUnavailable:
                return None  # unreserved by _mark: published by the next sweep
            return row.id, max(now, row.next_attempt_at)

        results = await asyncio.gather(*(one(r) for r in rows))
        return [r for r in results if r is not None]

    async def _mark(self, done: list[tuple[int, datetime]], failed: list[int]) -> None:
        # Published rows are marked (rule 1); the reservation of the others is dropped so
        # that the next sweep takes them at once (a crash here: the reservation expires).
        unreserve = (update(_T)
                     .where(_C.id.in_(failed), _C.lease_owner == self.relay_id,
                            _C.state == OutboxState.READY)
                     .values(lease_owner=None, lease_expires_at=None))
        stmt = (update(_T)
                .where(_C.id == bindparam("b_id"), _C.lease_owner == self.relay_id,
                       _C.state == OutboxState.READY)
                .values(lease_owner=RELAY_OWNER,
                        lease_expires_at=bindparam("b_exp", type_=UTCDateTime())))
        params = [{"b_id": item_id, "b_exp": due + self._republish} for item_id, due in done]
        async with self._store.write_gate(), self._store.engine.begin() as conn:
            if params:
                await conn.execute(stmt, params)
            if failed:
                await conn.execute(unreserve)
