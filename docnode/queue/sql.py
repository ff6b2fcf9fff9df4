"""The ``sql`` queue backend: the store's ``outbox`` table as a durable queue with leases.

Rules (besides those of :mod:`docnode.queue`):
1. A claim is ONE statement, ``UPDATE outbox SET state='leased', … WHERE id IN (SELECT id …
   due … ORDER BY next_attempt_at LIMIT n) RETURNING …``: picking and leasing cannot be
   separated, so two workers never get the same item. On SQLite the statement runs under the
   database write lock (``BEGIN IMMEDIATE``); on PostgreSQL the sub-select adds
   ``FOR UPDATE SKIP LOCKED`` so concurrent claimers skip each other's rows instead of
   waiting (SQLite's compiler leaves that clause out).
2. Finishing calls match the row on (id, lease_token, state='leased'); no match = the lease
   was taken over = ``LeaseLost``.
3. Completed items are deleted (the events table keeps the history); dead items stay, state
   ``dead``, for inspection and :meth:`SqlQueue.requeue_dead`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from docnode.errors import LeaseLost
from docnode.queue.model import QueueItem, QueueStats, RetryDecision, RetryPolicy
from docnode.store import OutboxItem, OutboxState, Store, Transaction, WorkKind
from docnode.store.engine import reader_engine
from docnode.store.sync_tx import SyncTransaction, delete_outbox

_T: Table = OutboxItem.metadata.tables["outbox"]
_C = _T.c
DEFAULT_POLICY = RetryPolicy()


class SqlQueue:
    """The ``sql`` backend of :class:`docnode.queue.Queue`."""

    def __init__(self, store: Store | AsyncEngine, *, policy: RetryPolicy = DEFAULT_POLICY,
                 rng: random.Random | None = None) -> None:
        self.engine = store.engine if isinstance(store, Store) else store
        """Claims and lease renewals run in their own short transactions on this engine."""
        self._store = store if isinstance(store, Store) else None
        self.policy = policy
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not cryptography

    async def claim(self, worker_id: str, *, limit: int, lease_s: float,
                    now: datetime) -> Sequence[QueueItem]:
        """Lease up to ``limit`` due items (rule 1); oldest due first."""
        stmt = claim_statement(self.engine.dialect.name, worker_id, limit=limit,
                               lease_s=lease_s, now=now)
        if self._store is not None:
            # One thread hand-off for the whole claim (store rule 8), under the write turn.
            rows = await self._store.run_sync(lambda tx: tx.execute(stmt).all())
        else:
            async with self.engine.begin() as conn:
                rows = (await conn.execute(stmt)).all()
        # RETURNING gives no order guarantee; hand them out oldest due first.
        return [QueueItem(id=r.id, kind=WorkKind(r.kind), ref=r.ref, attempts=r.attempts,
                          lease_owner=r.lease_owner, lease_token=r.lease_token,
                          lease_expires_at=r.lease_expires_at, created_at=r.created_at,
                          last_error=r.last_error)
                for r in sorted(rows, key=lambda r: (r.next_attempt_at, r.id))]

    async def complete(self, item: QueueItem, *, tx: Transaction) -> None:
        """Delete the finished item in ``tx`` (rule 3). Raises ``LeaseLost``."""
        await _must_match(tx, delete(_T).where(*_held(item)), item)

    def complete_sync(self, item: QueueItem, *, tx: SyncTransaction) -> None:
        """:meth:`complete` inside a synchronous unit (the delivered hot path)."""
        if tx.execute(delete_outbox(item.id, item.lease_token)).rowcount != 1:
            raise _lost(item)

    async def retry(self, item: QueueItem, *, tx: Transaction, error: str, now: datetime,
                    delay_s: float | None = None) -> RetryDecision:
        """Schedule the next try or dead-letter, per :attr:`policy`. Raises ``LeaseLost``."""
        if delay_s is None:
            delay_s = self.policy.delay(item.attempts, self._rng.random())
        decision = self.policy.decide(item, delay_s=delay_s, now=now)
        if decision is not RetryDecision.SCHEDULED:
            await self.dead_letter(item, tx=tx, error=error, now=now)
            return decision
        stmt = update(_T).where(*_held(item)).values(
            state=OutboxState.READY, next_attempt_at=now + timedelta(seconds=delay_s),
            lease_owner=None, lease_expires_at=None, last_error=error, updated_at=now)
        await _must_match(tx, stmt, item)
        return decision

    async def dead_letter(self, item: QueueItem, *, tx: Transaction, error: str,
                          now: datetime) -> None:
        """Park the item as ``dead`` (rule 3). Raises ``LeaseLost``."""
        stmt = update(_T).where(*_held(item)).values(
            state=OutboxState.DEAD, lease_owner=None, lease_expires_at=None,
            last_error=error, updated_at=now)
        await _must_match(tx, stmt, item)

    async def extend(self, item: QueueItem, *, lease_s: float, now: datetime) -> QueueItem:
        """Renew the lease for ``lease_s`` from ``now``. Raises ``LeaseLost``."""
        expires = now + timedelta(seconds=lease_s)
        stmt = update(_T).where(*_held(item)).values(lease_expires_at=expires, updated_at=now)
        async with self._write_turn(), self.engine.begin() as conn:
            result = cast(CursorResult[Any], await conn.execute(stmt))
            if result.rowcount != 1:
                raise _lost(item)
        return _replace_expiry(item, expires)

    async def release(self, worker_id: str, *, now: datetime) -> int:
        """Give back every item ``worker_id`` holds, due now, the attempt not counted."""
        stmt = (update(_T)
                .where(_C.state == OutboxState.LEASED, _C.lease_owner == worker_id)
                .values(state=OutboxState.READY, lease_owner=None, lease_expires_at=None,
                        next_attempt_at=now, attempts=func.max(_C.attempts - 1, 0)
                        if self.engine.dialect.name == "sqlite"
                        else func.greatest(_C.attempts - 1, 0), updated_at=now))
        async with self._write_turn(), self.engine.begin() as conn:
            return cast(CursorResult[Any], await conn.execute(stmt)).rowcount

    async def requeue_dead(self, *, tx: Transaction, now: datetime,
                           ids: Sequence[int] | None = None) -> int:
        """Operator action: make dead items (all, or ``ids``) ready again with fresh
        attempts. Returns how many."""
        stmt = update(_T).where(_C.state == OutboxState.DEAD)
        if ids is not None:
            stmt = stmt.where(_C.id.in_(list(ids)))
        stmt = stmt.values(state=OutboxState.READY, attempts=0, next_attempt_at=now,
                           created_at=now, updated_at=now)
        return cast(CursorResult[Any], await tx.session.execute(stmt)).rowcount

    async def stats(self, *, now: datetime) -> QueueStats:
        """Depth per state, due count, and the age of the oldest live item."""
        live = _C.state.in_([OutboxState.READY, OutboxState.LEASED])

        def count(cond: Any) -> Any:
            return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

        stmt = select(
            count(_C.state == OutboxState.READY),
            count(and_(_C.state == OutboxState.READY, _C.next_attempt_at <= now)),
            count(_C.state == OutboxState.LEASED),
            count(_C.state == OutboxState.DEAD),
        )
        oldest = select(_C.created_at).where(live).order_by(_C.created_at).limit(1)
        async with reader_engine(self.engine).connect() as conn:
            ready, due, leased, dead = (await conn.execute(stmt)).one()
            first_at = (await conn.execute(oldest)).scalar()
        age = max(0.0, (now - first_at).total_seconds()) if first_at is not None else 0.0
        return QueueStats(ready=int(ready), due=int(due), leased=int(leased),
                          dead=int(dead), oldest_age_s=age)


    def _write_turn(self) -> AbstractAsyncContextManager[None]:
        # Share the store's in-process write turn (store rule 7) when we have the store.
        return self._store.write_gate() if self._store is not None else nullcontext()


def claim_statement(dialect: str, worker_id: str, *, limit: int, lease_s: float,
                    now: datetime) -> Any:
    """The one claim statement (rule 1) for a dialect (``"sqlite"``, ``"postgresql"``)."""
    due = or_(and_(_C.state == OutboxState.READY, _C.next_attempt_at <= now),
              and_(_C.state == OutboxState.LEASED, _C.lease_expires_at < now))
    pick = select(_C.id).where(due).order_by(_C.next_attempt_at, _C.id).limit(limit)
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    return (
        update(_T).where(_C.id.in_(pick.scalar_subquery()))
        .values(state=OutboxState.LEASED, lease_owner=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_s),
                attempts=_C.attempts + 1, lease_token=_C.lease_token + 1, updated_at=now)
        .returning(_C.id, _C.kind, _C.ref, _C.attempts, _C.lease_owner, _C.lease_token,
                   _C.lease_expires_at, _C.created_at, _C.last_error, _C.next_attempt_at)
    )


def _held(item: QueueItem) -> tuple[Any, ...]:
    return (_C.id == item.id, _C.lease_token == item.lease_token,
            _C.state == OutboxState.LEASED)


async def _must_match(tx: Transaction, stmt: Any, item: QueueItem) -> None:
    result = cast(CursorResult[Any], await tx.session.execute(stmt))
    if result.rowcount != 1:
        raise _lost(item)


def _lost(item: QueueItem) -> LeaseLost:
    return LeaseLost(f"queue item {item.id}: lease {item.lease_token} is no longer held",
                     detail={"item": item.id, "lease_token": item.lease_token})


def _replace_expiry(item: QueueItem, expires: datetime) -> QueueItem:
    return QueueItem(id=item.id, kind=item.kind, ref=item.ref, attempts=item.attempts,
                     lease_owner=item.lease_owner, lease_token=item.lease_token,
                     lease_expires_at=expires, created_at=item.created_at,
                     last_error=item.last_error)
