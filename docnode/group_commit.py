"""Group commit: concurrent write units share one store transaction (and one fsync).

Why: with SQLite in WAL mode and ``synchronous=FULL`` (the default, so that a 202 survives a
power cut) every commit costs an fsync of the WAL — about 3 ms on the reference machine, and
SQLite has one writer at a time. One commit per submitted, received or delivered document
would cap a node near 300 writes/s whatever the CPU does. Databases have answered this for
decades with group commit; this module is ours.

Rules:
1. A *unit* is an async function of a :class:`~docnode.store.Transaction` that only writes
   through it (no other side effects; blobs are written before, as the store requires). A unit
   may run more than once, so it must not depend on having run before.
2. Units that arrive while a commit is in flight wait for the next one; each batch is ONE
   transaction, committed before any of its callers is answered. A caller's ``await`` returns
   only after ITS data is durable — the guarantee is the same as with its own transaction.
3. If a batch fails (a UNIQUE clash, a lost lease, a bug), it is rolled back and each unit is
   run again in a transaction of its own, so one bad unit never fails the others.
4. ``after_commit`` callbacks registered by units run after the shared commit (the store's
   rule 6 holds per transaction).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from docnode.logging import get_logger
from docnode.store import Store, Transaction

T = TypeVar("T")
Unit = Callable[[Transaction], Awaitable[T]]

log = get_logger("group_commit")

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
        if len(batch) == 1:
            await self._alone(*batch[0])
            return
        results: list[Any] = []
        try:
            async with self._store.transaction() as tx:
                for unit, _ in batch:
                    results.append(await unit(tx))
        except Exception:
            # Rule 3: isolate the failing unit(s).
            log.debug("batch_failed_retrying_alone", size=len(batch))
            for unit, future in batch:
                await self._alone(unit, future)
            return
        except BaseException as exc:  # cancellation: every caller learns it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            raise
        self.batches += 1
        self.units += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _alone(self, unit: Unit[Any], future: asyncio.Future[Any]) -> None:
        try:
            async with self._store.transaction() as tx:
                result = await unit(tx)
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.batches += 1
        self.units += 1
        if not future.done():
            future.set_result(result)
