"""Retention rules on a real store (docnode.retention): only delivered groups older than the
cut-off leave, only a prefix of the hash chain leaves, a group whose events interleave with
unfinished work waits, and the chain verifies after every run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from docnode.retention import archive_store
from docnode.store import DeliveryState, Direction, DocumentKind, Store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def _outgoing(store: Store, n: int, at: datetime) -> tuple[str, str]:
    sha = await store.blobs.put(f"<packet {n}/>".encode())
    async with store.transaction() as tx:
        doc = await tx.add_document(
            direction=Direction.OUT, kind=DocumentKind.EDOC, organ_id="000.00.00.G22",
            counterparty="000.00.00.H41", edxml_document_id=f"doc-{n}",
            from_organ_id="000.00.00.G22", packet_sha256=sha, packet_size=10, created_at=at)
        dlv = await tx.add_delivery(document_id=doc.id, recipient_organ_id="000.00.00.H41",
                                    route="direct:http://h41", now=at)
        await tx.append_event(kind="submitted", at=at, actor="t", document_id=doc.id)
        await tx.append_event(kind="queued", at=at, actor="t", document_id=doc.id,
                              delivery_id=dlv.id)
    return doc.id, dlv.id


async def _deliver(store: Store, doc_id: str, dlv_id: str, at: datetime) -> None:
    receipt = await store.blobs.put(f"<receipt for {doc_id}/>".encode())
    async with store.transaction() as tx:
        await tx.set_delivery_state(dlv_id, DeliveryState.SENDING, now=at)
        await tx.set_delivery_state(dlv_id, DeliveryState.DELIVERED, now=at,
                                    receipt_sha256=receipt)
        await tx.append_event(kind="delivered", at=at, actor="t", document_id=doc_id,
                              delivery_id=dlv_id)


async def _announced(store: Store) -> None:
    """What the webhook relay does as it announces events: move its cursor to the end."""
    async with store.transaction() as tx:
        await tx.session.execute(text(
            "UPDATE webhook_cursor SET last_event_id = (SELECT MAX(id) FROM events)"))


async def test_events_not_yet_announced_stay(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "blobs")
    try:
        d1 = await _outgoing(store, 1, T0)
        await _deliver(store, *d1, T0)
        result = await archive_store(store, older_than=timedelta(days=1),
                                     now=T0 + timedelta(days=2), out_dir=tmp_path / "a")
        assert (result.documents, result.held_back) == ((), 1)
        await _announced(store)
        result = await archive_store(store, older_than=timedelta(days=1),
                                     now=T0 + timedelta(days=2), out_dir=tmp_path / "a")
        assert result.documents == (d1[0],)
    finally:
        await store.close()


async def test_prefix_only_and_interleaved_groups_wait(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "blobs")
    try:
        d1 = await _outgoing(store, 1, T0)                      # events 1-2
        await _deliver(store, *d1, T0 + timedelta(minutes=1))  # event 3
        d2 = await _outgoing(store, 2, T0 + timedelta(minutes=2))  # events 4-5
        d3 = await _outgoing(store, 3, T0 + timedelta(minutes=3))  # events 6-7, never sent
        await _deliver(store, *d2, T0 + timedelta(minutes=4))  # event 8, after d3's events
        now = T0 + timedelta(days=40)
        out = tmp_path / "archive"
        await _announced(store)

        dry = await archive_store(store, older_than=timedelta(days=30), now=now,
                                  out_dir=out, dry_run=True)
        assert (dry.documents, dry.events, dry.held_back) == ((d1[0],), 3, 1)
        assert not out.exists()

        first = await archive_store(store, older_than=timedelta(days=30), now=now,
                                    out_dir=out)
        assert first.documents == (d1[0],) and first.events == 3
        assert first.held_back == 1  # d2: delivered, but its events straddle d3's
        report = await store.verify_event_chain()
        assert report.ok and report.checked == 5
        async with store.reader() as tx:
            assert await tx.get_document(d1[0]) is None
            assert await tx.get_document(d2[0]) is not None
        manifest = json.loads((Path(first.directory or "") / "manifest.json").read_text())
        assert manifest["chain"]["after_id"] == 0 and manifest["chain"]["last_id"] == 3
        assert [g["root"] for g in manifest["groups"]] == [d1[0]]
        events = (Path(first.directory or "") / "events.jsonl").read_text().splitlines()
        assert [json.loads(e)["id"] for e in events] == [1, 2, 3]

        # the documents too young for the cut-off stay, whatever their state
        young = await archive_store(store, older_than=timedelta(days=30),
                                    now=T0 + timedelta(days=10), out_dir=out)
        assert young.documents == ()

        # d3 delivered at last: d2 and d3 leave together, the chain still verifies
        await _deliver(store, *d3, T0 + timedelta(days=1))
        await _announced(store)
        second = await archive_store(store, older_than=timedelta(days=30),
                                     now=now + timedelta(seconds=1), out_dir=out)
        assert set(second.documents) == {d2[0], d3[0]} and second.events == 6
        report = await store.verify_event_chain()
        assert report.ok and report.checked == 0
        blob_files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
        assert blob_files == []  # every packet and receipt blob went with its rows
    finally:
        await store.close()
