"""Cluster-wide jobs run in one process at a time (issue 8): a PostgreSQL advisory lock (a file
lock on SQLite); when the holder goes away, another process takes over."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from docnode.cluster import FileLock, PgAdvisoryLock, cluster_lock, cluster_wide
from docnode.scheduler import Job
from docnode.store import create_engine


async def test_one_holder_of_the_advisory_lock_and_a_take_over(pg_url: str) -> None:
    engines = [create_engine(pg_url) for _ in range(3)]
    locks = [PgAdvisoryLock(e) for e in engines]
    try:
        held = [await lock.held() for lock in locks]
        assert held == [True, False, False]
        assert [await lock.held() for lock in locks] == [True, False, False]  # it stays
        await locks[0].close()
        assert [await lock.held() for lock in locks[1:]] == [True, False]
    finally:
        for lock in locks:
            await lock.close()
        for engine in engines:
            await engine.dispose()


async def test_a_lost_lock_connection_hands_the_jobs_over(pg_url: str) -> None:
    first, second = create_engine(pg_url), create_engine(pg_url)
    a, b = PgAdvisoryLock(first), PgAdvisoryLock(second)
    try:
        assert await a.held() and not await b.held()
        async with second.connect() as conn:  # the holder's session dies (network, restart)
            await conn.execute(text(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l "
                "JOIN pg_database d ON d.oid = l.database "
                "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"
                " AND l.pid <> pg_backend_pid()"))
        # pg_terminate_backend only signals: the lock goes when that backend has exited.
        async with asyncio.timeout(30):
            while not await b.held():
                await asyncio.sleep(0.05)
        assert not await a.held()  # the old holder notices and stops running cluster jobs
    finally:
        await a.close()
        await b.close()
        await first.dispose()
        await second.dispose()


async def test_cluster_jobs_run_only_where_the_lock_is_held(tmp_path: Path) -> None:
    ran: list[str] = []

    def job(name: str) -> Job:
        async def run() -> None:
            ran.append(name)

        return Job("poll", run, interval_s=1.0)

    engine = create_engine(f"sqlite:///{tmp_path / 's.sqlite3'}")
    try:
        one, two = cluster_lock(engine, tmp_path), FileLock(tmp_path / "cluster.lock")
        assert isinstance(one, FileLock)
        jobs = [cluster_wide(job("one"), one), cluster_wide(job("two"), two)]
        for _ in range(3):
            for j in jobs:
                await j.func()
        assert ran == ["one"] * 3
        await one.close()
        await jobs[1].func()
        assert ran[-1] == "two"
        await two.close()
    finally:
        await engine.dispose()
