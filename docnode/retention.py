"""Retention: archive delivered/completed documents as files, prune them from the hot store.

Rules:
1. A *group* is what must leave the store together (foreign keys tie it):
   - an outgoing edoc whose every delivery is ``delivered``, with its deliveries, their outbox
     items, the status packets received for them (document rows, receipts);
   - a received edoc whose latest status sent back is 06 (completed), with its inbox row, the
     receipt we answered, and the status packets we sent about it (documents, deliveries,
     outbox items) — all of whose deliveries must be terminal.
   Only groups created before ``now - older_than`` are eligible.
2. The event log is a hash chain verified from its base (``docnode.store.chain``): only a
   PREFIX of it can leave. The prefix ends before the first event that belongs to a group not
   being archived, and before the webhook cursor (events not yet announced stay). A group is
   archived only when ALL its events lie in the prefix; an eligible group whose events are
   interleaved with newer work waits for a later run. The chain head's base moves to the last
   archived event, so ``docnode audit-log verify`` goes on checking what remains.
3. Files first, rows second, blobs last: the archive folder (packets, receipts, events as
   JSON lines with their hashes, ``manifest.json`` with every file's SHA-256) is written and
   fsynced before the one transaction that deletes the rows; blob files are removed only after
   that commit and only when no remaining row names them. A crash in between leaves an archive
   that a later run repeats, never a pruned row without its archive.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, inspect, text
from sqlalchemy.ext.asyncio import AsyncSession

from docnode.logging import get_logger
from docnode.store import Store

log = get_logger("retention")

ARCHIVE_DIR = "archive"
MANIFEST = "manifest.json"
TERMINAL = ("delivered", "failed", "expired", "dead_lettered")


@dataclass
class Group:
    root: str
    """The edoc document id the group is named after."""
    documents: list[str] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ArchiveResult:
    directory: str | None
    documents: tuple[str, ...]
    """Root document ids of the archived groups."""
    events: int
    held_back: int
    """Eligible groups kept because their events are interleaved with newer ones (rule 2)."""
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"directory": self.directory, "documents": list(self.documents),
                "events": self.events, "held_back": self.held_back, "dry_run": self.dry_run}


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


async def _rows(session: AsyncSession, sql: str, **params: Any) -> list[dict[str, Any]]:
    stmt = text(sql)
    for name, value in params.items():
        if isinstance(value, list | tuple):
            stmt = stmt.bindparams(bindparam(name, expanding=True))
    result = await session.execute(stmt, params)
    return [dict(r._mapping) for r in result]


async def _groups(session: AsyncSession, cutoff: datetime, *, sqlite: bool
                  ) -> dict[str, Group]:
    """Eligible groups (rule 1)."""
    # SQLite holds naive UTC text (docnode.store.types): compare like with like.
    naive = cutoff.astimezone(UTC).replace(tzinfo=None) if sqlite else cutoff
    groups: dict[str, Group] = {}
    outgoing = await _rows(session, """
        SELECT d.id FROM documents d WHERE d.direction = 'out' AND d.kind = 'edoc'
          AND d.created_at < :cutoff
          AND EXISTS (SELECT 1 FROM deliveries x WHERE x.document_id = d.id)
          AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.document_id = d.id
                          AND x.state <> 'delivered')""", cutoff=naive)
    for row in outgoing:
        g = Group(row["id"], documents=[row["id"]])
        g.deliveries = [r["id"] for r in await _rows(
            session, "SELECT id FROM deliveries WHERE document_id = :d", d=g.root)]
        g.documents += [r["document_id"] for r in await _rows(
            session, "SELECT document_id FROM received_statuses WHERE delivery_id IN :ids",
            ids=g.deliveries)]
        groups[g.root] = g
    incoming = await _rows(session, """
        SELECT d.id, i.edxml_document_id, i.from_organ_id FROM documents d
          JOIN inbox i ON i.document_id = d.id
         WHERE d.direction = 'in' AND d.kind = 'edoc' AND i.status_code = '06'
           AND d.created_at < :cutoff""", cutoff=naive)
    for row in incoming:
        g = Group(row["id"], documents=[row["id"]])
        sent = await _rows(session, """
            SELECT id FROM documents WHERE direction = 'out' AND kind = 'status'
               AND edxml_document_id = :e AND counterparty = :c""",
                           e=row["edxml_document_id"], c=row["from_organ_id"])
        sent_ids = [r["id"] for r in sent]
        if sent_ids:
            dl = await _rows(session, "SELECT id, state FROM deliveries WHERE document_id IN :ids",
                             ids=sent_ids)
            if any(r["state"] not in TERMINAL for r in dl):
                continue
            g.deliveries = [r["id"] for r in dl]
        g.documents += sent_ids
        groups[g.root] = g
    return groups


async def _plan(session: AsyncSession, groups: dict[str, Group]) -> tuple[int, int, str]:
    """The archivable event prefix (rule 2): (base id, last id, hash of the last)."""
    head = (await _rows(session, "SELECT base_id, base_hash FROM event_chain_head WHERE id = 1"))
    if not head:
        return 0, 0, ""
    base_id = int(head[0]["base_id"])
    owner_doc: dict[str, str] = {d: g.root for g in groups.values() for d in g.documents}
    owner_dlv: dict[str, str] = {d: g.root for g in groups.values() for d in g.deliveries}
    events = await _rows(session, "SELECT id, document_id, delivery_id, hash FROM events "
                                  "WHERE id > :b ORDER BY id", b=base_id)
    limit = events[-1]["id"] if events else base_id
    tables = await session.run_sync(lambda s: inspect(s.connection()).get_table_names())
    if "webhook_cursor" in tables:  # events not yet announced to the DMS stay
        cursor = await _rows(session, "SELECT last_event_id FROM webhook_cursor WHERE id = 1")
        if cursor:
            limit = min(limit, int(cursor[0]["last_event_id"]))
    owners: list[str | None] = []
    for ev in events:
        owner = owner_doc.get(ev["document_id"] or "") or owner_dlv.get(ev["delivery_id"] or "")
        owners.append(owner)
        if owner is not None:
            groups[owner].event_ids.append(int(ev["id"]))
    last = base_id
    for ev, owner in zip(events, owners, strict=True):
        if owner is None or ev["id"] > limit:
            break
        last = int(ev["id"])
    # Shrink until no group straddles the end of the prefix.
    while True:
        straddling = [min(g.event_ids) for g in groups.values()
                      if g.event_ids and min(g.event_ids) <= last < max(g.event_ids)]
        if not straddling:
            break
        last = min(straddling) - 1
    last_hash = next((e["hash"] for e in events if e["id"] == last), head[0]["base_hash"])
    return base_id, last, str(last_hash)


def _write(path: Path, data: bytes) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


async def archive(settings: Any, *, older_than_days: int, now: datetime,
                  out_dir: Path | None = None, dry_run: bool = False) -> ArchiveResult:
    """Archive and prune (module rules); ``settings`` is the node's :class:`Settings`."""
    store = await Store.from_settings(settings.store, migrate=False)
    try:
        return await archive_store(store, older_than=timedelta(days=older_than_days), now=now,
                                   out_dir=out_dir or settings.node.data_dir / ARCHIVE_DIR,
                                   dry_run=dry_run)
    finally:
        await store.close()


async def archive_store(store: Store, *, older_than: timedelta, now: datetime,
                        out_dir: Path, dry_run: bool = False) -> ArchiveResult:
    async with store.reader() as tx:
        groups = await _groups(tx.session, now - older_than,
                               sqlite=store.engine.dialect.name == "sqlite")
        base_id, last, last_hash = await _plan(tx.session, groups)
        chosen = [g for g in groups.values() if g.event_ids and max(g.event_ids) <= last]
        held = len(groups) - len(chosen)
        if dry_run or not chosen:
            return ArchiveResult(None, tuple(g.root for g in chosen), last - base_id, held,
                                 dry_run)
        docs = [d for g in chosen for d in g.documents]
        dlvs = [d for g in chosen for d in g.deliveries]
        doc_rows = {r["id"]: r for r in await _rows(
            tx.session, "SELECT * FROM documents WHERE id IN :ids", ids=docs)}
        dlv_rows = await _rows(tx.session, "SELECT * FROM deliveries WHERE id IN :ids", ids=dlvs)
        receipts = await _rows(tx.session, "SELECT * FROM receipts WHERE document_id IN :ids",
                               ids=docs)
        events = await _rows(tx.session, "SELECT * FROM events WHERE id > :b AND id <= :l "
                                         "ORDER BY id", b=base_id, l=last)
    folder = out_dir / now.strftime("%Y%m%dT%H%M%SZ")
    manifest: dict[str, Any] = {
        "created_at": now.isoformat(), "older_than_days": older_than / timedelta(days=1),
        "chain": {"after_id": base_id, "last_id": last, "last_hash": last_hash,
                  "events_file": "events.jsonl"},
        "groups": [],
    }
    for g in chosen:
        entry: dict[str, Any] = {"root": g.root, "documents": [], "deliveries": []}
        for doc_id in g.documents:
            row = doc_rows[doc_id]
            files = [dict(_write(folder / g.root / f"{doc_id}.packet.xml",
                                 await store.blobs.get(row["packet_sha256"])), role="packet")]
            for rc in (r for r in receipts if r["document_id"] == doc_id):
                files.append(dict(_write(folder / g.root / f"{doc_id}.receipt.xml",
                                         await store.blobs.get(rc["receipt_sha256"])),
                                  role="receipt_sent"))
            entry["documents"].append({"row": {k: _iso(v) for k, v in row.items()},
                                       "files": files})
        for d in (r for r in dlv_rows if r["id"] in g.deliveries):
            files = []
            if d["receipt_sha256"]:
                files.append(dict(_write(folder / g.root / f"{d['id']}.receipt.xml",
                                         await store.blobs.get(d["receipt_sha256"])),
                                  role="receipt_received"))
            entry["deliveries"].append({"row": {k: _iso(v) for k, v in d.items()},
                                        "files": files})
        manifest["groups"].append(entry)
    lines = "".join(json.dumps({k: _iso(v) for k, v in e.items()}, ensure_ascii=False) + "\n"
                    for e in events)
    manifest["chain"]["events"] = _write(folder / "events.jsonl", lines.encode())
    _write(folder / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2).encode())
    blobs = await _prune(store, docs, dlvs, base_id=base_id, last=last, last_hash=last_hash)
    await _drop_unreferenced(store, blobs)
    log.info("archived", groups=len(chosen), events=last - base_id, directory=str(folder))
    return ArchiveResult(str(folder), tuple(g.root for g in chosen), last - base_id, held)


async def _prune(store: Store, docs: Sequence[str], dlvs: Sequence[str], *, base_id: int,
                 last: int, last_hash: str) -> set[str]:
    """ONE transaction deleting the group rows and the event prefix (rule 3)."""
    async with store.transaction() as tx:
        s = tx.session
        blobs = {r["packet_sha256"] for r in await _rows(
            s, "SELECT packet_sha256 FROM documents WHERE id IN :ids", ids=list(docs))}
        blobs |= {r["receipt_sha256"] for r in await _rows(
            s, "SELECT receipt_sha256 FROM receipts WHERE document_id IN :ids", ids=list(docs))}
        if dlvs:
            blobs |= {r["receipt_sha256"] for r in await _rows(
                s, "SELECT receipt_sha256 FROM deliveries WHERE id IN :ids AND receipt_sha256 "
                   "IS NOT NULL", ids=list(dlvs))}
        await s.execute(text("DELETE FROM events WHERE id > :b AND id <= :l"),
                        {"b": base_id, "l": last})
        await s.execute(text("UPDATE event_chain_head SET base_id = :l, base_hash = :h "
                             "WHERE id = 1"), {"l": last, "h": last_hash})
        for sql, ids in (
            ("DELETE FROM received_statuses WHERE document_id IN :ids", docs),
            ("DELETE FROM received_statuses WHERE delivery_id IN :ids", dlvs),
            ("DELETE FROM receipts WHERE document_id IN :ids", docs),
            ("DELETE FROM inbox WHERE document_id IN :ids", docs),
            ("DELETE FROM outbox WHERE ref IN :ids", dlvs),
            ("DELETE FROM idempotency_keys WHERE document_id IN :ids", docs),
            ("DELETE FROM deliveries WHERE id IN :ids", dlvs),
            ("DELETE FROM documents WHERE id IN :ids", docs),
        ):
            if ids:
                await s.execute(text(sql).bindparams(bindparam("ids", expanding=True)),
                                {"ids": list(ids)})
    return blobs


async def _drop_unreferenced(store: Store, blobs: Iterable[str]) -> None:
    wanted = sorted(blobs)
    if not wanted:
        return
    async with store.reader() as tx:
        kept = {r["packet_sha256"] for r in await _rows(
            tx.session, "SELECT packet_sha256 FROM documents WHERE packet_sha256 IN :ids",
            ids=wanted)}
        kept |= {r["receipt_sha256"] for r in await _rows(
            tx.session, "SELECT receipt_sha256 FROM receipts WHERE receipt_sha256 IN :ids",
            ids=wanted)}
        kept |= {r["receipt_sha256"] for r in await _rows(
            tx.session, "SELECT receipt_sha256 FROM deliveries WHERE receipt_sha256 IN :ids",
            ids=wanted)}
    path_for = getattr(store.blobs, "path_for", None)
    if path_for is None:  # a database blob store prunes with its rows
        return
    for sha in wanted:
        if sha not in kept:
            await asyncio.to_thread(_unlink, path_for(sha))


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
