"""The tamper-evident event log (issue 9): every event row is chained to the one before.

Rules:
1. ``hash = sha256(prev_hash || canonical_json(row))`` over the row's id, document and
   delivery ids, kind, time (UTC ISO-8601, microseconds), actor and the stored evidence text.
   Including the id makes a reordered or renumbered row fail verification.
2. Ids are contiguous: an append takes ``last_id + 1`` under the lock of the chain head row
   (``event_chain_head``), so a gap means a deleted row.
3. The head row names the last id and hash; verification compares it, so deleting the newest
   rows is detected too. ``base_id``/``base_hash`` is where verification starts (retention
   moves it forward when old events are archived).
4. The first ``prev_hash`` is :data:`GENESIS_HASH`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from docnode.store.tables import Event, EventChainHead
from docnode.store.types import canonical_json

GENESIS_HASH = "0" * 64
HEAD_ID = 1


def event_hash(prev_hash: str, *, id: int, document_id: str | None, delivery_id: str | None,
               kind: str, at: datetime, actor: str, evidence: str) -> str:
    """The chain hash of one event row (rule 1)."""
    body = canonical_json({
        "id": id, "document_id": document_id, "delivery_id": delivery_id, "kind": kind,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"), "actor": actor,
        "evidence": evidence,
    })
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def hash_of(event: Event, prev_hash: str) -> str:
    return event_hash(prev_hash, id=event.id, document_id=event.document_id,
                      delivery_id=event.delivery_id, kind=event.kind, at=event.at,
                      actor=event.actor, evidence=event.evidence)


class ChainProblem(StrEnum):
    """What verification found wrong, at :attr:`ChainReport.bad_id`."""

    GAP = "gap"
    """An id is missing (a deleted row)."""
    PREV_MISMATCH = "prev_mismatch"
    """``prev_hash`` is not the previous row's hash (deleted or reordered rows)."""
    HASH_MISMATCH = "hash_mismatch"
    """The row's content does not give its hash (an edited row)."""
    HEAD_MISMATCH = "head_mismatch"
    """The last row is not the one the head names (rows deleted at the end)."""


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of :func:`verify_chain`."""

    ok: bool
    checked: int
    """Rows verified before stopping."""
    last_id: int
    """Id of the last row found good."""
    problem: ChainProblem | None = None
    bad_id: int | None = None
    """First row that failed (for HEAD_MISMATCH: the id the head names)."""


async def verify_chain(session: AsyncSession, *, batch: int = 1000) -> ChainReport:
    """Walk the whole chain from its base and report the first problem found."""
    head = await session.get(EventChainHead, HEAD_ID)
    if head is None:
        return ChainReport(False, 0, 0, ChainProblem.HEAD_MISMATCH, HEAD_ID)
    last_id, last_hash, checked = head.base_id, head.base_hash, 0
    while True:
        rows = (await session.execute(
            select(Event).where(col(Event.id) > last_id).order_by(col(Event.id)).limit(batch)
        )).scalars().all()
        for ev in rows:
            if ev.id != last_id + 1:
                return ChainReport(False, checked, last_id, ChainProblem.GAP, last_id + 1)
            if ev.prev_hash != last_hash:
                return ChainReport(False, checked, last_id, ChainProblem.PREV_MISMATCH, ev.id)
            if hash_of(ev, last_hash) != ev.hash:
                return ChainReport(False, checked, last_id, ChainProblem.HASH_MISMATCH, ev.id)
            last_id, last_hash, checked = ev.id, ev.hash, checked + 1
        if len(rows) < batch:
            break
    if (last_id, last_hash) != (head.last_id, head.last_hash):
        bad = head.last_id if head.last_id != last_id else last_id
        return ChainReport(False, checked, last_id, ChainProblem.HEAD_MISMATCH, bad)
    return ChainReport(True, checked, last_id)
