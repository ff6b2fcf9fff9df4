"""Group commit: concurrent write units share one store transaction (and one fsync).

Why: with SQLite in WAL mode and ``synchronous=FULL`` (the default, so that a 202 survives a
power cut) every commit costs an fsync of the WAL — about 3 ms on the reference machine, and
SQLite has one writer at a time. One commit per submitted, received or delivered document
would cap a node near 300 writes/s whatever the CPU does. Databases have answered this for
decades with group commit; this module is ours.

Rules:
1. A *unit* is a synchronous function of a :class:`~docnode.store.sync_tx.SyncTransaction`
   that only works through it (no other side effects, no awaiting; blobs are written before,
   as the store requires). It runs in the store's worker thread (store rule 8), so the event
   loop is free while the batch runs. A unit may run more than once, so it must not depend on
   having run before.
2. Units that arrive while a commit is in flight wait for the next one; each batch is ONE
   transaction, committed before any of its callers is answered. A caller's ``await`` returns
   only after ITS data is durable — the guarantee is the same as with its own transaction.
3. If a batch fails (a UNIQUE clash, a lost lease, a bug), it is rolled back and each unit is
   run again in a transaction of its own, so one bad unit never fails the others
   (:meth:`docnode.store.Store.write_batch`).
4. ``after_commit`` callbacks registered by units run after the shared commit (the store's
   rule 6 holds per transaction).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from docnode.store import Store
from docnode.store.sync_tx import SyncTransaction

T = TypeVar("T")
Unit = Callable[[SyncTransaction], T]

DEFAULT_MAX_BATCH = 64


class GroupCommitter:
    """Runs write units in shared transactions (rules 1-4)."""

    def __init__(self, store: Store, *, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self._store = store
        self._max_batch = max_batch
        self._pending: list[tuple[Unit[Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0
        """Transactions committed (for the bench: units per commit)."""
        self.units = 0

    async def run(self, unit: Unit[T]) -> T:
        """Run ``unit`` in a (possibly shared) transaction; return once it is committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((unit, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="docnode-group-commit")
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: len(batch)]
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[Unit[Any], asyncio.Future[Any]]]) -> None:
        try:
            outcomes = await self._store.write_batch([unit for unit, _ in batch])
        except BaseException as exc:  # cancellation: every caller learns it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            raise
        self.batches += 1 if all(o.error is None for o in outcomes) else len(outcomes)
        self.units += len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if outcome.error is not None:
                future.set_exception(outcome.error)
            else:
                future.set_result(outcome.result)
