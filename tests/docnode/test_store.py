"""docnode.store on real SQLite files: pragmas, atomic units of work, dedup keys, the blob
store's integrity and the tamper-evident event chain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import StatementError

from docnode.errors import BlobIntegrityError, Conflict, NotFound, StoreUnavailable
from docnode.store import (
    TABLES,
    ChainProblem,
    DeliveryState,
    Direction,
    Document,
    DocumentKind,
    EventKind,
    FilesystemBlobStore,
    Store,
    Transaction,
    WorkKind,
    sha256_hex,
)

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
A, B, C = "000.00.00.G22", "000.00.00.H41", "000.00.00.H14"


@pytest.fixture
async def store(store_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    # Parametrised: SQLite and a throw-away PostgreSQL database (tests/servers.py).
    s = await Store.open(store_url, tmp_path / "blobs")
    yield s
    await s.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite:///{tmp_path / 'db' / 'node.sqlite3'}", tmp_path / "blobs")
    yield s
    await s.close()


async def _outgoing(tx: Transaction, *, doc_id: str = "G22.2026.1", to: tuple[str, ...] = (B,)
                    ) -> tuple[Document, list[str]]:
    doc = await tx.add_document(
        direction=Direction.OUT, kind=DocumentKind.EDOC, organ_id=A, counterparty=to[0],
        edxml_document_id=doc_id, from_organ_id=A, packet_sha256="a" * 64, packet_size=10,
        created_at=NOW, subject="Công văn", code="1/UBND-VP")
    deliveries = []
    for organ in to:
        d = await tx.add_delivery(document_id=doc.id, recipient_organ_id=organ,
                                  route="direct:http://127.0.0.1:1", now=NOW)
        await tx.enqueue(WorkKind.DELIVER_EDOC, d.id, now=NOW)
        deliveries.append(d.id)
    await tx.append_event(kind=EventKind.SUBMITTED, at=NOW, actor="clerk:test",
                          document_id=doc.id, evidence={"recipients": list(to)})
    return doc, deliveries


async def _count(store: Store, table: str) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608 - table names are test constants


async def test_sqlite_pragmas_on_every_connection(sqlite_store: Store) -> None:
    async def pragmas() -> tuple[object, ...]:
        async with sqlite_store.engine.connect() as conn:
            return tuple([(await conn.execute(text(f"PRAGMA {p}"))).scalar() for p in
                          ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")])

    # Several connections at once: each one went through the connect event.
    results = await asyncio.gather(*(pragmas() for _ in range(4)))
    assert set(results) == {("wal", 2, 1, 10000)}  # synchronous 2 = FULL


async def test_migrated_schema_has_every_table(store: Store) -> None:
    async with store.engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    # Other packages' tables (e.g. the axis role's) live in later migrations of the chain.
    assert {t.__tablename__ for t in TABLES} | {"alembic_version"} <= names


async def test_unit_of_work_is_atomic(store: Store) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with store.transaction() as tx:
            await _outgoing(tx, to=(B, C))
            raise Boom
    for table in ("documents", "deliveries", "outbox", "events"):
        assert await _count(store, table) == 0, table
    report = await store.verify_event_chain()
    assert report.ok and report.checked == 0
    async with store.transaction() as tx:
        doc, dels = await _outgoing(tx, to=(B, C))
    assert await _count(store, "deliveries") == 2
    async with store.reader() as tx:
        assert sorted(d.id for d in await tx.deliveries_of(doc.id)) == sorted(dels)
        assert [e.kind for e in await tx.timeline(doc.id)] == ["submitted"]


async def test_rows_come_back_typed_and_usable_after_commit(store: Store) -> None:
    async with store.transaction() as tx:
        doc, (dlv_id,) = await _outgoing(tx)
    assert doc.created_at == NOW  # expire_on_commit=False: still readable
    async with store.reader() as tx:
        dlv = await tx.get_delivery(dlv_id)
    assert dlv is not None
    assert dlv.state is DeliveryState.QUEUED
    assert dlv.created_at == NOW and dlv.created_at.tzinfo is not None


async def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(StatementError) as info:  # a programming error, raised at bind time
        async with store.transaction() as tx:
            await tx.add_document(
                direction=Direction.IN, kind=DocumentKind.EDOC, organ_id=A, counterparty=B,
                edxml_document_id="x", from_organ_id=B, packet_sha256="b" * 64,
                packet_size=1, created_at=datetime(2026, 1, 1))
    assert isinstance(info.value.orig, ValueError)
    assert await _count(store, "documents") == 0


async def test_delivery_state_machine(store: Store) -> None:
    async with store.transaction() as tx:
        _, (dlv_id,) = await _outgoing(tx)
    later = NOW + timedelta(seconds=5)
    async with store.transaction() as tx:
        await tx.set_delivery_state(dlv_id, DeliveryState.SENDING, now=later, attempts=1)
        d = await tx.set_delivery_state(dlv_id, DeliveryState.DELIVERED, now=later,
                                        receipt_sha256="c" * 64, last_error=None)
        assert d.receipt_sha256 == "c" * 64 and d.attempts == 1
    with pytest.raises(Conflict) as info:
        async with store.transaction() as tx:
            await tx.set_delivery_state(dlv_id, DeliveryState.QUEUED, now=later)
    assert info.value.detail["state"] == "delivered"
    with pytest.raises(NotFound):
        async with store.transaction() as tx:
            await tx.set_delivery_state("nope", DeliveryState.SENDING, now=later)


async def test_latest_status_wins_by_packet_timestamp(store: Store) -> None:
    async with store.transaction() as tx:
        _, (dlv_id,) = await _outgoing(tx)
    async with store.transaction() as tx:
        assert await tx.set_delivery_status(dlv_id, "06", at=NOW + timedelta(hours=2), now=NOW)
        assert not await tx.set_delivery_status(dlv_id, "03", at=NOW + timedelta(hours=1),
                                                now=NOW)
        found = await tx.find_delivery_for_status("G22.2026.1", recipient_organ_id=B)
        assert found is not None and found.id == dlv_id and found.status_code == "06"
        assert await tx.find_delivery_for_status("G22.2026.1", recipient_organ_id=C) is None


async def _incoming(tx: Transaction, *, sha: str = "d" * 64, doc_id: str = "H41.1") -> str:
    doc = await tx.add_document(
        direction=Direction.IN, kind=DocumentKind.EDOC, organ_id=A, counterparty=B,
        edxml_document_id=doc_id, from_organ_id=B, packet_sha256=sha, packet_size=3,
        created_at=NOW)
    await tx.add_inbox(document_id=doc.id, organ_id=A, from_organ_id=B,
                       edxml_document_id=doc_id, packet_sha256=sha, received_at=NOW)
    await tx.record_receipt(packet_sha256=sha, receipt_sha256="e" * 64, document_id=doc.id,
                            now=NOW)
    return doc.id


async def test_inbox_dedup_key_is_unique(store: Store) -> None:
    async with store.transaction() as tx:
        first = await _incoming(tx)
    async with store.reader() as tx:
        entry = await tx.find_inbox(B, "H41.1")
        receipt = await tx.find_receipt("d" * 64)
        assert entry is not None and entry.document_id == first
        assert receipt is not None and receipt.receipt_sha256 == "e" * 64
        assert [e.document_id for e in await tx.list_inbox(organ_id=A)] == [first]
    # Same (From, DocumentId) with other bytes: the UNIQUE key holds, nothing is half-kept.
    with pytest.raises(Conflict) as info:
        async with store.transaction() as tx:
            await _incoming(tx, sha="f" * 64)
    assert "inbox" in str(info.value.detail["constraint"])
    assert await _count(store, "inbox") == 1 and await _count(store, "documents") == 1


async def test_received_status_dedup_key_is_unique(store: Store) -> None:
    async with store.transaction() as tx:
        _, (dlv_id,) = await _outgoing(tx)

    async def add() -> None:
        async with store.transaction() as tx:
            doc = await tx.add_document(
                direction=Direction.IN, kind=DocumentKind.STATUS, organ_id=A, counterparty=B,
                edxml_document_id="G22.2026.1", from_organ_id=B, packet_sha256="1" * 64,
                packet_size=1, created_at=NOW, status_code="03")
            await tx.add_received_status(
                document_id=doc.id, delivery_id=dlv_id, from_organ_id=B,
                response_for_document_id="G22.2026.1", status_code="03", timestamp=NOW,
                packet_sha256="1" * 64, received_at=NOW)

    await add()
    with pytest.raises(Conflict):
        await add()
    async with store.reader() as tx:
        assert await tx.find_received_status(from_organ_id=B,
                                             response_for_document_id="G22.2026.1",
                                             status_code="03", timestamp=NOW) is not None


async def test_after_commit_runs_only_after_a_commit(store: Store) -> None:
    calls: list[str] = []

    async def wake() -> None:
        calls.append("async")

    async with store.transaction() as tx:
        tx.after_commit(lambda: calls.append("sync"))
        tx.after_commit(wake)
        await _outgoing(tx)
        assert calls == []
    assert calls == ["sync", "async"]
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            tx.after_commit(lambda: calls.append("never"))
            raise RuntimeError
    assert calls == ["sync", "async"]


async def test_concurrent_writers_in_one_process_serialise(store: Store) -> None:
    async def submit(i: int) -> None:
        async with store.transaction() as tx:
            await _outgoing(tx, doc_id=f"G22.{i}")

    await asyncio.gather(*(submit(i) for i in range(40)))
    assert await _count(store, "documents") == 40
    report = await store.verify_event_chain()
    assert report.ok and report.checked == 40


async def test_peers_and_idempotency_keys(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.upsert_peer(organ_id=B, url="http://127.0.0.1:8801", now=NOW)
        await tx.upsert_peer(organ_id=B, url="http://127.0.0.1:8802", now=NOW, source="api")
        await tx.put_idempotency(scope="token:1", key="k1", request_sha256="2" * 64,
                                 response={"id": "x"}, now=NOW)
    async with store.transaction() as tx:
        peers = await tx.list_peers()
        assert [(p.organ_id, p.url, p.source) for p in peers] == [
            (B, "http://127.0.0.1:8802", "api")]
        key = await tx.get_idempotency("token:1", "k1")
        assert key is not None and key.response == '{"id":"x"}'
        assert await tx.delete_peer(B) and not await tx.delete_peer(B)
    with pytest.raises(Conflict):
        async with store.transaction() as tx:
            await tx.put_idempotency(scope="token:1", key="k1", request_sha256="3" * 64,
                                     response={}, now=NOW)


# ------------------------------------------------------------------ blobs


async def test_blob_store_round_trip_and_layout(tmp_path: Path) -> None:
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    data = b"%PDF-1.7 " + bytes(range(256)) * 100
    sha = await blobs.put(data)
    assert sha == sha256_hex(data)
    path = blobs.path_for(sha)
    assert path == tmp_path / "blobs" / sha[:2] / sha[2:4] / sha
    assert await blobs.get(sha) == data and await blobs.exists(sha)
    assert await blobs.put(data) == sha  # idempotent
    assert [p.name for p in path.parent.iterdir()] == [sha]  # no temp files left behind
    with pytest.raises(ValueError, match="SHA-256"):
        blobs.path_for("../../etc/passwd")


async def test_blob_store_detects_corruption_and_absence(tmp_path: Path) -> None:
    blobs = FilesystemBlobStore(tmp_path)
    sha = await blobs.put(b"original bytes")
    blobs.path_for(sha).write_bytes(b"tampered bytes")
    with pytest.raises(BlobIntegrityError) as info:
        await blobs.get(sha)
    assert info.value.code == "blob_integrity"
    assert await blobs.put(b"original bytes") == sha  # storing again heals the copy
    assert await blobs.get(sha) == b"original bytes"
    with pytest.raises(NotFound):
        await blobs.get("0" * 64)
    assert not await blobs.exists("0" * 64)


async def test_concurrent_puts_of_the_same_blob(tmp_path: Path) -> None:
    blobs = FilesystemBlobStore(tmp_path)
    data = b"x" * 1_000_000
    shas = await asyncio.gather(*(blobs.put(data) for _ in range(8)))
    assert len(set(shas)) == 1 and await blobs.get(shas[0]) == data


# ------------------------------------------------------------------ event chain


async def _chain_of(store: Store, n: int) -> str:
    async with store.transaction() as tx:
        doc, (dlv_id,) = await _outgoing(tx)
        for i in range(n - 1):
            await tx.append_event(kind=EventKind.RETRY_SCHEDULED, delivery_id=dlv_id,
                                  document_id=doc.id, at=NOW + timedelta(seconds=i),
                                  actor="worker:w1", evidence={"attempt": i, "note": "ồ"})
    report = await store.verify_event_chain()
    assert report.ok and report.checked == n and report.last_id == n
    return doc.id


async def _sql(store: Store, statement: str) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(text(statement))


async def test_chain_detects_an_edited_row(store: Store) -> None:
    await _chain_of(store, 6)
    await _sql(store, "UPDATE events SET evidence = replace(evidence, 'attempt', 'attempts') "
                      "WHERE id = 4")
    report = await store.verify_event_chain(batch=2)
    assert not report.ok
    assert (report.problem, report.bad_id, report.checked) == (ChainProblem.HASH_MISMATCH, 4, 3)


async def test_chain_detects_an_edited_time_or_actor(store: Store) -> None:
    await _chain_of(store, 4)
    await _sql(store, "UPDATE events SET actor = 'clerk:mallory' WHERE id = 2")
    report = await store.verify_event_chain()
    assert (report.problem, report.bad_id) == (ChainProblem.HASH_MISMATCH, 2)


async def test_chain_detects_a_deleted_row(store: Store) -> None:
    await _chain_of(store, 6)
    await _sql(store, "DELETE FROM events WHERE id = 3")
    report = await store.verify_event_chain()
    assert (report.problem, report.bad_id) == (ChainProblem.GAP, 3)


async def test_chain_detects_a_deleted_row_renumbered(store: Store) -> None:
    await _chain_of(store, 5)
    await _sql(store, "DELETE FROM events WHERE id = 3")
    await _sql(store, "UPDATE events SET id = id - 1 WHERE id > 3")
    report = await store.verify_event_chain()
    assert (report.problem, report.bad_id) == (ChainProblem.PREV_MISMATCH, 3)


async def test_chain_detects_deleted_newest_rows(store: Store) -> None:
    await _chain_of(store, 5)
    await _sql(store, "DELETE FROM events WHERE id >= 4")
    report = await store.verify_event_chain()
    assert (report.problem, report.bad_id, report.checked) == (ChainProblem.HEAD_MISMATCH, 5, 3)


async def test_chain_detects_reordered_rows(store: Store) -> None:
    await _chain_of(store, 5)
    # Swap rows 2 and 3 (every column but the id moves), as an editor reordering would.
    await _sql(store, "UPDATE events SET id = -2 WHERE id = 2")
    await _sql(store, "UPDATE events SET id = 2 WHERE id = 3")
    await _sql(store, "UPDATE events SET id = 3 WHERE id = -2")
    report = await store.verify_event_chain()
    assert (report.problem, report.bad_id) == (ChainProblem.PREV_MISMATCH, 2)


async def test_chain_continues_across_transactions_and_timelines_are_ordered(
        store: Store) -> None:
    doc_id = await _chain_of(store, 3)
    async with store.transaction() as tx:
        await tx.append_event(kind=EventKind.DELIVERED, at=NOW, actor="worker:w2",
                              document_id=doc_id, evidence={"receipt_sha256": "9" * 64})
    async with store.reader() as tx:
        kinds = [e.kind for e in await tx.timeline(doc_id)]
    assert kinds == ["submitted", "retry_scheduled", "retry_scheduled", "delivered"]
    report = await store.verify_event_chain()
    assert report.ok and report.checked == 4


async def test_a_nested_write_transaction_fails_instead_of_hanging(tmp_path: Path) -> None:
    s = await Store.open(f"sqlite:///{tmp_path / 'n.sqlite3'}", tmp_path / "blobs",
                         busy_timeout_ms=200)
    try:
        with pytest.raises(StoreUnavailable) as info:
            async with s.transaction() as tx:
                await _outgoing(tx)
                async with s.transaction():  # one writer at a time: this can never start
                    pass
        assert info.value.code == "store_unavailable"
        assert await _count(s, "documents") == 0
        async with s.transaction() as tx:  # the turn was given back
            await _outgoing(tx)
    finally:
        await s.close()


async def test_evidence_is_canonical_json(store: Store) -> None:
    vn = timezone(timedelta(hours=7))
    async with store.transaction() as tx:
        ev = await tx.append_event(
            kind=EventKind.STATUS_RECEIVED, at=NOW.astimezone(vn), actor="peer:" + B,
            evidence={"state": DeliveryState.DELIVERED, "status_at": NOW.astimezone(vn),
                      "z": 1, "a": "Đã nhận"})
    assert ev.evidence == ('{"a":"Đã nhận","state":"delivered",'
                           '"status_at":"2026-12-01T08:00:00.000000+00:00","z":1}')
    assert ev.at == NOW  # any zone in, UTC out
    assert (await store.verify_event_chain()).ok


def test_old_sqlite_is_refused_with_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    import sqlite3

    from docnode.store import engine as engine_module

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    with pytest.raises(StoreUnavailable):
        engine_module.create_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
