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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from docnode.config.settings import BlobBackend, SqliteSynchronous, StoreSettings
from docnode.errors import Conflict, StoreUnavailable
from docnode.store._queries import Queries
from docnode.store.blobs import BlobStore, FilesystemBlobStore
from docnode.store.chain import ChainReport, verify_chain
from docnode.store.engine import create_engine, is_sqlite, reader_engine, sqlite_path
from docnode.store.migrate import migrate_engine

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None] | None]


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
                 busy_timeout_ms: int = 10_000, write_gate: bool = True) -> None:
        self.engine = engine
        """The async engine (owned: :meth:`close` disposes it)."""
        self.blobs = blobs
        """Where payload bytes live (rule 4)."""
        self._reader = reader_engine(engine)
        self._write_lock = asyncio.Lock() if write_gate and is_sqlite(engine) else None
        self._busy_timeout_s = busy_timeout_ms / 1000

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
                   write_gate=write_gate)

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
        """Dispose of the engine's connections."""
        await self.engine.dispose()

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
        except sa_exc.IntegrityError as exc:
            raise Conflict("a row with the same key already exists",
                           detail={"constraint": _constraint_of(exc)}) from exc
        except sa_exc.OperationalError as exc:
            raise StoreUnavailable(f"store error: {exc.orig}") from exc
        except (sa_exc.DBAPIError, OSError) as exc:
            # PostgreSQL gone (restart, network): asyncpg raises connection errors that
            # SQLAlchemy wraps as InterfaceError/DBAPIError, or OSError while connecting.
            # Retryable for the caller (503); the pool reconnects (pre-ping) on the next use.
            raise StoreUnavailable(f"store unreachable: {type(exc).__name__}") from exc
        finally:
            await session.close()
        for callback in tx._after_commit:
            try:
                result = callback()
                if result is not None:
                    await result
            except Exception:  # rule 6: the use case has committed; report, don't undo
                log.exception("after-commit callback failed")


def _constraint_of(exc: sa_exc.IntegrityError) -> str:
    # sqlite3: "UNIQUE constraint failed: inbox.from_organ_id, inbox.edxml_document_id"
    text = str(exc.orig)
    return text.split(":", 1)[1].strip() if ":" in text else text
