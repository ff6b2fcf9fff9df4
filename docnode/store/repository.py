"""The store's unit of work: :class:`Store` opens it, :class:`Transaction` is one atomic change.

Rules:
1. One use case = one ``async with store.transaction() as tx:`` block. Everything inside
   commits together or not at all (an exception rolls back and propagates).
2. Write transactions take the SQLite write lock at the start (``BEGIN IMMEDIATE``, see
   :mod:`docnode.store.engine`), so a "find, then insert" inside one is race-free there. On
   every backend a UNIQUE dedup key still holds: a clash surfaces as
   :class:`~docnode.errors.Conflict` (the use case may retry: the second try finds the row).
3. Events are appended, never updated or deleted; this API has no way to do either.
4. Blobs are written with :attr:`Store.blobs` BEFORE the transaction that names them.
5. Times are parameters (``now``/``at``), aware UTC; the store never reads the clock.
6. ``after_commit`` callbacks run only once the commit succeeded (e.g. to wake a worker or to
   publish to a broker); their errors are logged, never raised into the committed use case.
7. On SQLite, write transactions of one process queue on an asyncio lock (:meth:`Store.
   write_gate`) before they ask SQLite for its write lock: SQLite has one writer anyway, and
   a connection waiting in SQLite's busy handler sleeps in steps of up to 100 ms, while a task
   waiting on the lock resumes the moment the writer before it commits (tail latency).
   Other processes still meet at SQLite's lock (``busy_timeout``).
8. The hot use cases write through :meth:`Store.write_batch` instead: synchronous *units*
   (functions of a :class:`~docnode.store.sync_tx.SyncTransaction`) that run whole in a
   worker thread on a ``sqlite3`` engine of the same file (elsewhere through
   ``AsyncConnection.run_sync``). Several units share one transaction; if it fails it is
   rolled back and each unit runs again alone, so one bad unit never fails the others. Rules
   1-7 hold for them too (the same write turn, the same error mapping).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import traceback
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from docnode.config.settings import BlobBackend, SqliteSynchronous, StoreSettings
from docnode.errors import Conflict, DocnodeError, StoreUnavailable
from docnode.store._queries import Queries
from docnode.store.blobs import BlobStore, FilesystemBlobStore
from docnode.store.chain import ChainReport, verify_chain
from docnode.store.engine import (
    create_engine,
    create_sqlite_sync_engine,
    is_sqlite,
    reader_engine,
    sqlite_path,
)
from docnode.store.migrate import migrate_engine
from docnode.store.sync_tx import AfterCommit, SyncTransaction

log = logging.getLogger(__name__)

T = TypeVar("T")
SyncUnit = Callable[[SyncTransaction], T]
"""A write or read unit of rule 8: runs in a worker thread, must not await or block on
anything but the database."""

DB_THREADS = 1
"""Worker threads for synchronous units. ONE: a ``sqlite3`` connection and its cursors must
not be used (or freed) by two threads at once, so they are only ever touched by this thread;
SQLite has one writer anyway, and a read waits at most for one batch's commit."""


@dataclass(frozen=True, slots=True)
class UnitOutcome:
    """What one unit of :meth:`Store.write_batch` came to: its result, or its error."""

    result: Any = None
    error: Exception | None = None

    def unwrap(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class Transaction(Queries):
    """One atomic unit of work (see the module rules). Obtain it from
    :meth:`Store.transaction` or :meth:`Store.reader`; never construct it yourself."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self._after_commit: list[AfterCommit] = []

    def after_commit(self, callback: AfterCommit) -> None:
        """Run ``callback`` (sync or async, no arguments) after a successful commit."""
        self._after_commit.append(callback)


class Store:
    """The node's store: an async engine, its blob store and the unit-of-work factory."""

    def __init__(self, engine: AsyncEngine, blobs: BlobStore, *,
                 busy_timeout_ms: int = 10_000, write_gate: bool = True,
                 sync_engine: Engine | None = None) -> None:
        self.engine = engine
        """The async engine (owned: :meth:`close` disposes it)."""
        self.blobs = blobs
        """Where payload bytes live (rule 4)."""
        self._reader = reader_engine(engine)
        self._write_lock = asyncio.Lock() if write_gate and is_sqlite(engine) else None
        self._busy_timeout_s = busy_timeout_ms / 1000
        # Rule 8: a sqlite3 engine on the same file (owned), run on our own threads.
        self._sync = sync_engine
        self._sync_reader = None if sync_engine is None else reader_engine(sync_engine)
        self._db_threads = None if sync_engine is None else ThreadPoolExecutor(
            max_workers=DB_THREADS, thread_name_prefix="docnode-db")

    @classmethod
    async def open(cls, url: str, blobs_dir: Path, *,
                   synchronous: SqliteSynchronous = SqliteSynchronous.FULL,
                   busy_timeout_ms: int = 10_000, migrate: bool = True,
                   write_gate: bool = True) -> Store:
        """Open (and by default migrate to the newest schema) the store at ``url`` with a
        filesystem blob store under ``blobs_dir``. ``write_gate=False`` leaves in-process
        writers to SQLite's busy handler (rule 7: more throughput under contention, but a
        tail latency of seconds). Raises ``StoreUnavailable``."""
        db_file = sqlite_path(url)
        if db_file is not None:
            await asyncio.to_thread(db_file.parent.mkdir, parents=True, exist_ok=True)
        engine = create_engine(url, synchronous=synchronous, busy_timeout_ms=busy_timeout_ms)
        try:
            if migrate:
                await migrate_engine(engine)
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            await engine.dispose()
            raise StoreUnavailable(f"cannot open the store: {exc}") from exc
        return cls(engine, FilesystemBlobStore(blobs_dir), busy_timeout_ms=busy_timeout_ms,
                   write_gate=write_gate,
                   sync_engine=create_sqlite_sync_engine(url, synchronous=synchronous,
                                                         busy_timeout_ms=busy_timeout_ms))

    @classmethod
    async def from_settings(cls, settings: StoreSettings, *, migrate: bool = True) -> Store:
        """:meth:`open` with the values of ``[store]`` (``blobs = "database"``: payload
        bytes in the store's ``blobs`` table, :mod:`docnode.store.db_blobs`)."""
        store = await cls.open(settings.url, settings.blobs_dir,
                               synchronous=settings.sqlite_synchronous,
                               busy_timeout_ms=settings.busy_timeout_ms, migrate=migrate)
        if settings.blobs is BlobBackend.DATABASE:
            from docnode.store.db_blobs import DatabaseBlobStore

            store.blobs = DatabaseBlobStore(store.engine, write_gate=store.write_gate)
        return store

    async def close(self) -> None:
        """Dispose of the engines' connections (and stop the store's worker threads)."""
        await self.engine.dispose()
        if self._sync is not None and self._db_threads is not None:
            await asyncio.to_thread(self._db_threads.shutdown)
            self._sync.dispose()

    async def write_batch(self, units: Sequence[SyncUnit[Any]]) -> list[UnitOutcome]:
        """Run write units in ONE transaction if they all succeed, else each alone (rule 8);
        one outcome per unit, in order. ``after_commit`` callbacks of committed units run
        afterwards, on the loop. Errors come as the store maps them (``Conflict``,
        ``StoreUnavailable``) in the outcomes, never raised."""
        async with self.write_gate():
            if self._sync is not None:
                outcomes, callbacks = await asyncio.get_running_loop().run_in_executor(
                    self._db_threads, self._units_on_engine, self._sync, list(units))
            else:
                try:
                    async with self.engine.connect() as conn:
                        outcomes, callbacks = await conn.run_sync(_run_units, list(units))
                except Exception as exc:  # connecting failed: every unit learns it
                    return [UnitOutcome(error=_translate(exc))] * len(units)
        await _run_after_commit(callbacks)
        return outcomes

    async def run_sync(self, unit: SyncUnit[T]) -> T:
        """One write unit in a transaction of its own (rule 8); raises its error."""
        (outcome,) = await self.write_batch([unit])
        return cast(T, outcome.unwrap())

    async def read_sync(self, unit: SyncUnit[T]) -> T:
        """A read-only unit (no write turn, deferred ``BEGIN`` on SQLite); do not write in
        it. Raises the store's errors."""
        if self._sync_reader is not None:
            outcome = await asyncio.get_running_loop().run_in_executor(
                self._db_threads, self._read_on_engine, self._sync_reader, unit)
        else:
            try:
                async with self._reader.connect() as conn:
                    outcome = await conn.run_sync(functools.partial(_read_unit, unit))
            except Exception as exc:  # connecting failed
                outcome = UnitOutcome(error=_translate(exc))
        return cast(T, outcome.unwrap())

    @staticmethod
    def _units_on_engine(engine: Engine, units: list[SyncUnit[Any]]
                         ) -> tuple[list[UnitOutcome], list[AfterCommit]]:
        try:
            with engine.connect() as conn:
                return _run_units(conn, units)
        except Exception as exc:  # connecting failed: every unit learns it
            return [UnitOutcome(error=_detached(_translate(exc)))] * len(units), []

    @staticmethod
    def _read_on_engine(engine: Engine, unit: SyncUnit[Any]) -> UnitOutcome:
        try:
            with engine.connect() as conn:
                return _read_unit(unit, conn)
        except Exception as exc:  # connecting failed
            return UnitOutcome(error=_detached(_translate(exc)))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A write unit of work: commits on leaving the block, rolls back on an exception.
        A UNIQUE clash raises ``Conflict``; a locked or unreachable database
        ``StoreUnavailable`` (both after rollback)."""
        async with self._run(self.engine, gate=True) as tx:
            yield tx

    @asynccontextmanager
    async def write_gate(self) -> AsyncIterator[None]:
        """Hold this process's turn to write (rule 7; a no-op except on SQLite). Taken by
        :meth:`transaction` and by the queue's claims; never nest it. Waiting longer than
        ``busy_timeout_ms`` raises ``StoreUnavailable``, as SQLite itself would."""
        if self._write_lock is None:
            yield
            return
        try:
            async with asyncio.timeout(self._busy_timeout_s):
                await self._write_lock.acquire()
        except TimeoutError:
            raise StoreUnavailable("the store is busy: no write turn within "
                                   f"{self._busy_timeout_s:g} s") from None
        try:
            yield
        finally:
            self._write_lock.release()

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Transaction]:
        """A read-only unit of work (no write lock taken on SQLite); do not write in it."""
        async with self._run(self._reader, gate=False) as tx:
            yield tx

    async def verify_event_chain(self, *, batch: int = 1000) -> ChainReport:
        """Check the whole event log's hash chain (``docnode audit-log verify``)."""
        async with self.reader() as tx:
            return await verify_chain(tx.session, batch=batch)

    @asynccontextmanager
    async def _run(self, engine: AsyncEngine, *, gate: bool) -> AsyncIterator[Transaction]:
        session = AsyncSession(engine, expire_on_commit=False)
        tx = Transaction(session)
        try:
            # The write turn covers BEGIN..COMMIT only; handing the connection back to the
            # pool (a rollback round trip) happens after it, outside the turn.
            async with self.write_gate() if gate else nullcontext(), session.begin():
                yield tx
        except (sa_exc.DBAPIError, OSError) as exc:
            raise _translate(exc) from exc
        finally:
            await session.close()
        await _run_after_commit(tx._after_commit)


async def _run_after_commit(callbacks: Sequence[AfterCommit]) -> None:
    for callback in callbacks:
        try:
            result = callback()
            if result is not None:
                await result
        except Exception:  # rule 6: the use case has committed; report, don't undo
            log.exception("after-commit callback failed")


def _translate(exc: Exception) -> Exception:
    """A database error as the store's error vocabulary (others are returned as they are)."""
    if isinstance(exc, sa_exc.IntegrityError):
        mapped: Exception = Conflict("a row with the same key already exists",
                                     detail={"constraint": _constraint_of(exc)})
    elif isinstance(exc, sa_exc.OperationalError):
        mapped = StoreUnavailable(f"store error: {exc.orig}")
    elif isinstance(exc, (sa_exc.DBAPIError, OSError)):
        # PostgreSQL gone (restart, network): asyncpg raises connection errors that
        # SQLAlchemy wraps as InterfaceError/DBAPIError, or OSError while connecting.
        # Retryable for the caller (503); the pool reconnects (pre-ping) on the next use.
        mapped = StoreUnavailable(f"store unreachable: {type(exc).__name__}")
    else:
        return exc
    mapped.__cause__ = exc
    return mapped


def _run_units(conn: Connection, units: list[SyncUnit[Any]]
               ) -> tuple[list[UnitOutcome], list[AfterCommit]]:
    """Rule 8 on one connection: all units in one transaction, else each alone."""
    if len(units) > 1:
        tx = SyncTransaction(conn)
        try:
            with conn.begin():
                results = [unit(tx) for unit in units]
                tx.finish()
        except Exception:
            log.debug("batch of %d failed, running each alone", len(units))
        else:
            return [UnitOutcome(r) for r in results], tx.callbacks
    outcomes: list[UnitOutcome] = []
    callbacks: list[AfterCommit] = []
    for unit in units:
        tx = SyncTransaction(conn)
        try:
            with conn.begin():
                result = unit(tx)
                tx.finish()
        except Exception as exc:
            outcomes.append(UnitOutcome(error=_detached(_translate(exc))))
        else:
            outcomes.append(UnitOutcome(result))
            callbacks.extend(tx.callbacks)
    return outcomes, callbacks


def _read_unit(unit: SyncUnit[Any], conn: Connection) -> UnitOutcome:
    try:
        with conn.begin():
            return UnitOutcome(unit(SyncTransaction(conn)))
    except Exception as exc:
        return UnitOutcome(error=_detached(_translate(exc)))


def _detached(exc: Exception) -> Exception:
    """``exc`` (and the errors chained to it) without traceback frames: the frames hold the
    database thread's cursors, which must not be freed on the event loop's thread while the
    database thread uses the same connection (see :data:`DB_THREADS`). A bug (not one of our
    errors) keeps its traceback as a note, for the log."""
    if not isinstance(exc, DocnodeError):
        exc.add_note("in the store's database thread:\n"
                     + "".join(traceback.format_exception(exc)).rstrip())
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        err = pending.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        err.__traceback__ = None
        pending.extend(e for e in (err.__cause__, err.__context__) if e is not None)
    return exc


def _constraint_of(exc: sa_exc.IntegrityError) -> str:
    # sqlite3: "UNIQUE constraint failed: inbox.from_organ_id, inbox.edxml_document_id"
    text = str(exc.orig)
    return text.split(":", 1)[1].strip() if ":" in text else text
