"""The store's synchronous units (store rule 8, docnode.store.sync_tx) on real SQLite files and
PostgreSQL: batches commit together or unit by unit, the event chain continues across both
write paths, dedup keys and the delivery rules hold exactly as through the async API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from docnode.errors import Conflict, NotFound
from docnode.store import DeliveryState, Direction, DocumentKind, EventKind, Store, WorkKind
from docnode.store.sync_tx import SyncTransaction

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
A, B = "000.00.00.G22", "000.00.00.H41"


@pytest.fixture
async def store(store_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(store_url, tmp_path / "blobs")
    yield s
    await s.close()


def _outgoing(tx: SyncTransaction, doc_id: str = "G22.1") -> tuple[str, str]:
    if tx.find_document_ids(doc_id, from_organ_id=A, direction=Direction.OUT,
                            kind=DocumentKind.EDOC):
        raise Conflict("submitted already")
    d = tx.add_document(direction=Direction.OUT, kind=DocumentKind.EDOC, organ_id=A,
                        counterparty=B, edxml_document_id=doc_id, from_organ_id=A,
                        packet_sha256="a" * 64, packet_size=10, created_at=NOW,
                        subject="Công văn", code="1/UBND-VP")
    tx.append_event(kind=EventKind.SUBMITTED, at=NOW, actor="clerk:test", document_id=d,
                    evidence={"recipients": [B]})
    dlv = tx.add_delivery(document_id=d, recipient_organ_id=B,
                          route="direct:http://127.0.0.1:1", now=NOW)
    tx.enqueue(WorkKind.DELIVER_EDOC, dlv, now=NOW)
    tx.append_event(kind=EventKind.QUEUED, at=NOW, actor="clerk:test", document_id=d,
                    delivery_id=dlv, evidence={"recipient": B})
    return d, dlv


async def _count(store: Store, table: str) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608 - table names are test constants


async def test_a_batch_commits_together_and_reads_back_through_the_async_api(
        store: Store) -> None:
    outcomes = await store.write_batch([lambda tx, i=i: _outgoing(tx, f"G22.{i}")
                                        for i in range(5)])
    assert all(o.error is None for o in outcomes)
    doc_id, dlv_id = outcomes[2].result
    async with store.reader() as tx:
        doc = await tx.get_document(doc_id)
        dlv = await tx.get_delivery(dlv_id)
        events = await tx.timeline(doc_id)
    assert doc is not None and doc.subject == "Công văn" and doc.created_at == NOW
    assert dlv is not None and dlv.state is DeliveryState.QUEUED and dlv.next_attempt_at == NOW
    assert [e.kind for e in events] == ["submitted", "queued"]
    assert await _count(store, "outbox") == 5
    report = await store.verify_event_chain()
    assert report.ok and report.checked == 10


async def test_one_bad_unit_fails_alone_and_only_committed_units_call_back(
        store: Store) -> None:
    await store.run_sync(lambda tx: _outgoing(tx, "G22.dup"))
    calls: list[str] = []

    def unit(name: str) -> object:
        def run(tx: SyncTransaction) -> str:
            _outgoing(tx, name)
            tx.after_commit(lambda: calls.append(name))
            return name
        return run

    outcomes = await store.write_batch([unit("G22.x"), unit("G22.dup"), unit("G22.y")])
    assert [o.result for o in outcomes] == ["G22.x", None, "G22.y"]
    assert isinstance(outcomes[1].error, Conflict)
    assert calls == ["G22.x", "G22.y"]
    assert await _count(store, "documents") == 3
    report = await store.verify_event_chain()
    assert report.ok and report.checked == 6


async def test_a_unique_clash_is_a_conflict_and_nothing_of_the_unit_stays(
        store: Store) -> None:
    def incoming(sha: str) -> object:
        def run(tx: SyncTransaction) -> None:
            d = tx.add_document(direction=Direction.IN, kind=DocumentKind.EDOC, organ_id=A,
                                counterparty=B, edxml_document_id="H41.1", from_organ_id=B,
                                packet_sha256=sha, packet_size=3, created_at=NOW)
            tx.add_inbox(document_id=d, organ_id=A, from_organ_id=B, edxml_document_id="H41.1",
                         packet_sha256=sha, received_at=NOW, status_code="01", status_at=NOW)
            tx.record_receipt(packet_sha256=sha, receipt_sha256="e" * 64, document_id=d,
                              now=NOW)
            tx.append_event(kind=EventKind.RECEIVED, at=NOW, actor=f"peer:{B}", document_id=d)
        return run

    await store.run_sync(incoming("d" * 64))
    with pytest.raises(Conflict) as info:
        await store.run_sync(incoming("f" * 64))
    assert "inbox" in str(info.value.detail["constraint"])
    assert await _count(store, "documents") == 1 and await _count(store, "events") == 1
    assert await store.read_sync(lambda tx: tx.find_receipt("d" * 64)) == "e" * 64
    assert await store.read_sync(lambda tx: tx.find_receipt("f" * 64)) is None
    doc_id = await store.read_sync(lambda tx: tx.find_inbox(B, "H41.1"))
    async with store.reader() as tx:
        entry = await tx.get_inbox(str(doc_id))
    assert entry is not None and entry.status_code == "01" and entry.status_at == NOW


async def test_delivery_rules_are_those_of_the_async_api(store: Store) -> None:
    _, dlv_id = await store.run_sync(_outgoing)
    later = NOW + timedelta(hours=1)

    def delivered(tx: SyncTransaction) -> str:
        doc_id = tx.set_delivery_state(dlv_id, DeliveryState.DELIVERED, now=later,
                                       attempts=1, next_attempt_at=None,
                                       receipt_sha256="c" * 64)
        assert tx.set_delivery_status(dlv_id, "06", at=later + timedelta(hours=1), now=later)
        # An older status than the one shown is not recorded.
        assert not tx.set_delivery_status(dlv_id, "01", at=later, now=later)
        return doc_id

    doc_id = await store.run_sync(delivered)
    ref = await store.read_sync(lambda tx: tx.find_delivery_for_status(
        "G22.1", recipient_organ_id=B))
    assert ref is not None and (ref.id, ref.document_id, ref.status_code) == (
        dlv_id, doc_id, "06")
    with pytest.raises(Conflict) as info:
        await store.run_sync(lambda tx: tx.set_delivery_state(
            dlv_id, DeliveryState.QUEUED, now=later))
    assert info.value.detail["state"] == "delivered"
    with pytest.raises(NotFound):
        await store.run_sync(lambda tx: tx.set_delivery_state(
            "nope", DeliveryState.DELIVERED, now=later))
    async with store.reader() as tx:
        dlv = await tx.get_delivery(dlv_id)
    assert dlv is not None and dlv.state is DeliveryState.DELIVERED
    assert dlv.receipt_sha256 == "c" * 64 and dlv.next_attempt_at is None
    packet = await store.read_sync(lambda tx: tx.packet_to_send(dlv_id))
    assert packet is not None and packet.packet_sha256 == "a" * 64
    assert packet.route == "direct:http://127.0.0.1:1" and packet.recipient_organ_id == B


async def test_the_chain_continues_across_both_write_paths(store: Store) -> None:
    async def async_event(i: int) -> None:
        async with store.transaction() as tx:
            await tx.append_event(kind=EventKind.SECURITY, at=NOW, actor="system",
                                  evidence={"i": i})

    await asyncio.gather(*(coro for i in range(6) for coro in (
        async_event(i), store.run_sync(lambda tx, i=i: _outgoing(tx, f"G22.{i}")))))
    report = await store.verify_event_chain()
    assert report.ok and report.checked == 18


async def test_sqlite_sync_engine_has_the_store_pragmas(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'node.sqlite3'}", tmp_path / "blobs")
    try:
        def pragmas(tx: SyncTransaction) -> tuple[object, ...]:
            return tuple(tx.execute(text(f"PRAGMA {p}")).scalar() for p in
                         ("journal_mode", "synchronous", "foreign_keys", "busy_timeout"))

        assert await store.read_sync(pragmas) == ("wal", 2, 1, 10000)  # 2 = FULL
    finally:
        await store.close()


async def test_a_bug_in_a_unit_is_raised_with_its_traceback_as_a_note(store: Store) -> None:
    def broken_unit(tx: SyncTransaction) -> None:
        _outgoing(tx)
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError) as info:
        await store.run_sync(broken_unit)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "database thread" in notes and "broken_unit" in notes
    assert await _count(store, "documents") == 0
    with pytest.raises(ZeroDivisionError):
        await store.read_sync(lambda tx: 1 // 0)
