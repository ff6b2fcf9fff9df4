"""Jobs that must run once across the cluster, not once per process (DESIGN §6, issue 8).

Several ``docnode run`` processes (``--workers N``, or processes on several machines sharing
one store) each run a scheduler. Per-process jobs (waking the local dispatcher, reloading CRL
files, refreshing the in-memory directory) run everywhere; cluster jobs (polling the axis,
syncing its directory, certificate expiry warnings) must run in ONE process at a time.

Rules:
1. One process holds the *cluster lock*; only it runs cluster jobs. Before every run the job
   asks :meth:`ClusterLock.held`, which takes the lock if it is free, so a process that dies
   (its lock is released with it) is replaced within one job interval.
2. PostgreSQL store: a session-level advisory lock (``pg_try_advisory_lock``) held on one
   dedicated connection. If that connection breaks, the server has released the lock: the
   holder notices on its next check (``SELECT 1`` fails), stops running cluster jobs and
   competes again once the database is back.
3. SQLite store (one machine by nature): an exclusive ``flock`` on ``<data_dir>/cluster.lock``
   held by the process; the kernel releases it when the process exits, even on ``kill -9``.
4. Checks never raise into the scheduler: a lock that cannot be checked is "not held".
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from docnode.logging import get_logger
from docnode.scheduler import Job

log = get_logger("cluster")

LOCK_NAME = b"docnode:cluster-jobs"
LOCK_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME).digest()[:8], "big", signed=True)
"""The advisory lock key (64-bit, derived from a fixed name; advisory locks are per database,
so nodes on different databases never meet)."""


class ClusterLock(Protocol):
    async def held(self) -> bool:
        """Whether this process holds the cluster lock (taking it when it is free)."""
        ...

    async def close(self) -> None:
        """Release the lock (if held)."""
        ...


class PgAdvisoryLock:
    """Rule 2."""

    def __init__(self, engine: AsyncEngine, *, key: int = LOCK_KEY) -> None:
        self._engine = engine
        self._key = key
        self._conn: AsyncConnection | None = None
        self._guard = asyncio.Lock()

    async def held(self) -> bool:
        async with self._guard:
            try:
                if self._conn is not None:
                    await self._conn.execute(text("SELECT 1"))
                    await self._conn.commit()
                    return True
                conn = await self._engine.connect()
                got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                          {"k": self._key})).scalar()
                await conn.commit()  # the session lock outlives the transaction
                if got:
                    self._conn = conn
                    log.info("cluster_lock_acquired")
                    return True
                await conn.close()
                return False
            except Exception as exc:
                await self._forget(exc)
                return False

    async def _forget(self, exc: BaseException) -> None:
        if self._conn is not None:
            log.warning("cluster_lock_lost", error=type(exc).__name__)
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.invalidate()

    async def close(self) -> None:
        async with self._guard:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            with contextlib.suppress(Exception):
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                await conn.commit()
            with contextlib.suppress(Exception):
                await conn.close()


class FileLock:
    """Rule 3."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    async def held(self) -> bool:
        if self._file is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = self.path.open("ab")
        except OSError as exc:
            log.warning("cluster_lock_unavailable", path=str(self.path), error=exc.strerror)
            return False
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._file = fh
        log.info("cluster_lock_acquired", path=str(self.path), pid=os.getpid())
        return True

    async def close(self) -> None:
        fh, self._file = self._file, None
        if fh is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()


def cluster_lock(engine: AsyncEngine, data_dir: Path) -> ClusterLock:
    """The lock for this store: advisory on PostgreSQL, a file lock otherwise."""
    if engine.dialect.name == "postgresql":
        return PgAdvisoryLock(engine)
    return FileLock(data_dir / "cluster.lock")


def cluster_wide(job: Job, lock: ClusterLock) -> Job:
    """``job``, run only in the process holding ``lock`` (rule 1)."""
    inner: Callable[[], Awaitable[None]] = job.func

    async def run() -> None:
        if await lock.held():
            await inner()

    return Job(job.name, run, interval_s=job.interval_s, run_at_start=job.run_at_start)
