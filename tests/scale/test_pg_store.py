"""The store on PostgreSQL (issue 8): the same migrations as on SQLite, claims that skip each
other's rows (``FOR UPDATE SKIP LOCKED``), payload bytes in the database, and a store that
comes back after its connections were cut."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from docnode.config import BlobBackend
from docnode.config.settings import SqliteSynchronous, StoreSettings
from docnode.errors import BlobIntegrityError, NotFound
from docnode.queue import SqlQueue
from docnode.store import Store, WorkKind, create_engine, current_revision, head_revision
from docnode.store.db_blobs import DatabaseBlobStore
from docnode.store.migrate import all_metadata, migrate

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "pg"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "pg":
        return str(request.getfixturevalue("pg_empty_url"))
    return f"sqlite:///{tmp_path / 'empty.sqlite3'}"


async def test_migrations_build_the_same_schema_as_the_models(empty_url: str) -> None:
    store_url = empty_url
    await migrate(store_url)
    await migrate(store_url)  # idempotent
    engine = create_engine(store_url)

    def diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, all_metadata()))

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


def _settings(url: str, tmp_path: Path, blobs: BlobBackend) -> StoreSettings:
    return StoreSettings(url=url, blobs_dir=tmp_path / "blobs",
                         sqlite_synchronous=SqliteSynchronous.FULL, busy_timeout_ms=10_000,
                         blobs=blobs)


async def test_blobs_in_the_database(store_url: str, tmp_path: Path) -> None:
    store = await Store.from_settings(_settings(store_url, tmp_path, BlobBackend.DATABASE))
    try:
        assert isinstance(store.blobs, DatabaseBlobStore)
        data = b"<edXMLEnvelope/>" * 1000
        sha, again = await asyncio.gather(store.blobs.put(data), store.blobs.put(data))
        assert sha == again
        assert await store.blobs.get(sha) == data
        assert await store.blobs.exists(sha)
        assert not (tmp_path / "blobs").exists()  # nothing on the filesystem
        with pytest.raises(NotFound) as missing:
            await store.blobs.get("0" * 64)
        assert missing.value.code == "not_found"
        async with store.engine.begin() as conn:
            await conn.execute(text("UPDATE blobs SET data = :d WHERE sha256 = :s"),
                               {"d": b"tampered", "s": sha})
        with pytest.raises(BlobIntegrityError) as damaged:
            await store.blobs.get(sha)
        assert damaged.value.code == "blob_integrity"
        assert await store.blobs.put(data) == sha  # a damaged copy is replaced
        assert await store.blobs.get(sha) == data
    finally:
        await store.close()


async def _enqueue(store: Store, n: int) -> None:
    async with store.transaction() as tx:
        for i in range(n):
            await tx.enqueue(WorkKind.WEBHOOK, f"ref-{i}", now=NOW)


async def test_concurrent_claims_never_share_an_item(pg_url: str, tmp_path: Path) -> None:
    stores = [await Store.open(pg_url, tmp_path / "blobs") for _ in range(4)]
    try:
        await _enqueue(stores[0], 200)
        queues = [SqlQueue(s) for s in stores]
        claimed: list[int] = []

        async def drain(q: SqlQueue, worker: str) -> None:
            while items := await q.claim(worker, limit=7, lease_s=60, now=NOW):
                claimed.extend(i.id for i in items)

        await asyncio.gather(*(drain(q, f"w{i}") for i, q in enumerate(queues)
                               for _ in range(2)))
        assert len(claimed) == 200
        assert len(set(claimed)) == 200
        stats = await queues[0].stats(now=NOW)
        assert (stats.ready, stats.leased) == (0, 200)
    finally:
        for s in stores:
            await s.close()


async def test_expired_leases_are_claimed_again_and_released_items_at_once(
        pg_url: str, tmp_path: Path) -> None:
    store = await Store.open(pg_url, tmp_path / "blobs")
    try:
        await _enqueue(store, 3)
        q = SqlQueue(store)
        first = await q.claim("a", limit=3, lease_s=10, now=NOW)
        assert len(first) == 3
        assert await q.claim("b", limit=3, lease_s=10, now=NOW) == []
        later = NOW + timedelta(seconds=11)
        again = await q.claim("b", limit=1, lease_s=10, now=later)
        assert [i.attempts for i in again] == [2]
        assert await q.release("a", now=later) == 2
        rest = await q.claim("c", limit=5, lease_s=10, now=later)
        assert sorted(i.attempts for i in rest) == [1, 1]  # a release does not count
    finally:
        await store.close()


async def test_the_store_comes_back_after_its_connections_are_cut(pg_url: str,
                                                                    tmp_path: Path) -> None:
    store = await Store.open(pg_url, tmp_path / "blobs")
    try:
        async with store.reader() as tx:
            await tx.list_peers()  # a pooled connection now exists
        database = store.engine.url.database
        admin = create_engine(pg_url)
        try:
            async with admin.connect() as conn:
                await conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": database})
        finally:
            await admin.dispose()
        async with store.transaction() as tx:  # the stale connection is replaced
            await tx.upsert_peer(organ_id="000.00.00.H41", url="http://b", now=NOW)
        async with store.reader() as tx:
            assert [p.organ_id for p in await tx.list_peers()] == ["000.00.00.H41"]
    finally:
        await store.close()
