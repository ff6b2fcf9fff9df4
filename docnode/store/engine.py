"""Creating the async SQLAlchemy engine, with the SQLite settings the store relies on.

Rules for SQLite (set on EVERY connection through a ``connect`` event, because pragmas other
than ``journal_mode`` are per connection):

1. ``journal_mode=WAL``: readers never block the writer and vice versa.
2. ``synchronous=FULL`` by default. In WAL mode NORMAL only fsyncs at checkpoints: a commit
   survives a crash of our process but can be lost on power loss or an OS crash. We answer
   202 ("nothing lost after 202", DESIGN §4) right after the commit, so the default is FULL
   (one WAL fsync per commit). NORMAL is available as ``[store] sqlite_synchronous``.
3. ``busy_timeout``: a writer waits for the lock instead of failing at once.
4. ``foreign_keys=ON``: SQLite leaves them off unless asked, per connection.
5. Write transactions start with ``BEGIN IMMEDIATE``: the write lock is taken at the start, so
   a transaction that reads then writes cannot fail half-way with SQLITE_BUSY when another
   connection committed in between (a deferred transaction cannot wait for a lock it would
   need to upgrade). Read-only work uses :func:`reader_engine` (plain deferred ``BEGIN``).
   This takes over transaction control from the ``sqlite3`` module (``isolation_level =
   None``), the recipe of SQLAlchemy's SQLite dialect documentation.

Rule for PostgreSQL (``postgresql+asyncpg://``, issue 8):

6. Pooled connections are pre-pinged, so a server restart costs one failed round trip per
   stale connection, never a failed use case once the server is back; the queue's claim uses
   ``FOR UPDATE SKIP LOCKED`` (:mod:`docnode.queue.sql`) and the event chain head is locked
   with ``FOR UPDATE`` (:mod:`docnode.store._queries`), so many processes may write at once.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event, make_url
from sqlalchemy import create_engine as create_sync_engine_
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from docnode.config.settings import SqliteSynchronous
from docnode.errors import StoreUnavailable

_BEGIN_OPTION = "docnode_sqlite_begin"


def async_url(url: str) -> str:
    """The async-driver form of a store URL (``sqlite://`` -> ``sqlite+aiosqlite://``,
    ``postgresql://`` -> ``postgresql+asyncpg://``); other URLs are returned as they are."""
    scheme, sep, rest = url.partition("://")
    if scheme == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    return f"{scheme}{sep}{rest}"


MIN_SQLITE = (3, 35, 0)
"""``UPDATE … RETURNING`` (the queue's claim) needs SQLite 3.35 or later."""


def create_engine(url: str, *, synchronous: SqliteSynchronous = SqliteSynchronous.FULL,
                  busy_timeout_ms: int = 10_000, echo: bool = False) -> AsyncEngine:
    """An :class:`AsyncEngine` for ``url`` with the rules above applied on SQLite. Raises
    ``StoreUnavailable`` when the linked SQLite library is too old."""
    options: dict[str, Any] = {}
    if make_url(async_url(url)).get_backend_name() == "postgresql":
        # Rule 6: several processes share one server, which may restart: test a pooled
        # connection before use (a dead one is replaced instead of failing the use case),
        # and bound waiting for a connection like SQLite's busy_timeout.
        options = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10,
                   "pool_timeout": busy_timeout_ms / 1000}
    engine = create_async_engine(async_url(url), echo=echo, **options)
    if engine.dialect.name == "sqlite":
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StoreUnavailable(
                f"SQLite {sqlite3.sqlite_version} is too old: the store needs "
                f"{'.'.join(map(str, MIN_SQLITE))} or later (UPDATE … RETURNING)")
        _configure_sqlite(engine.sync_engine, synchronous, busy_timeout_ms)
    return engine


def create_sqlite_sync_engine(url: str, *,
                              synchronous: SqliteSynchronous = SqliteSynchronous.FULL,
                              busy_timeout_ms: int = 10_000) -> Engine | None:
    """A synchronous (``sqlite3``) engine on the same database FILE as :func:`create_engine`,
    with the same rules 1-5, for work that runs whole in a worker thread
    (:meth:`docnode.store.Store.run_sync`): one thread hand-off per transaction instead of
    several per statement. ``None`` for other backends and for ``:memory:`` (a second engine
    would open a different database there)."""
    path = sqlite_path(url)
    if path is None:
        return None
    # Connections move between the store's worker threads (one at a time: the pool hands
    # each to one thread), hence check_same_thread=False.
    engine = create_sync_engine_(f"sqlite:///{path}",
                                 connect_args={"check_same_thread": False})
    _configure_sqlite(engine, synchronous, busy_timeout_ms)
    return engine


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (``None`` for other backends or ``:memory:``)."""
    parsed = make_url(async_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


_E = TypeVar("_E", AsyncEngine, Engine)


def reader_engine(engine: _E) -> _E:
    """The same engine and pool, but transactions begin DEFERRED (readers take no write
    lock). Use it only for work that never writes."""
    return engine.execution_options(**{_BEGIN_OPTION: "BEGIN"})


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def _configure_sqlite(sync_engine: Engine, synchronous: SqliteSynchronous,
                      busy_timeout_ms: int) -> None:
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Rule 5: we emit BEGIN ourselves; the driver must not begin implicitly.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous.value.upper()}")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get(_BEGIN_OPTION,
                                                              "BEGIN IMMEDIATE"))
