"""The reads and writes a :class:`~docnode.store.Transaction` offers (private; the rules are
in :mod:`docnode.store.repository`). Every method works inside the caller's transaction and
never commits; rows come back as the sqlmodel table objects (not expired after commit).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from docnode.errors import Conflict, NotFound
from docnode.store.chain import HEAD_ID, event_hash
from docnode.store.enums import (
    DELIVERY_TRANSITIONS,
    DeliveryState,
    Direction,
    DocumentKind,
    OutboxState,
    Verification,
    WorkKind,
)
from docnode.store.tables import (
    Agency,
    Delivery,
    Document,
    Event,
    EventChainHead,
    IdempotencyKey,
    InboxEntry,
    OutboxItem,
    Peer,
    Receipt,
    ReceivedStatus,
)
from docnode.store.types import canonical_json

_UNSET: Any = object()


def new_id() -> str:
    """A fresh row id (UUID4, text)."""
    return str(uuid.uuid4())


class Queries:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        """The underlying session (for queries this API lacks; keep writes in methods)."""
        self._head: EventChainHead | None = None

    async def _flush_parent(self) -> None:
        # Without relationship() the unit of work does not order INSERTs by foreign key;
        # flushing a parent row at once keeps children (deliveries, events, inbox) valid.
        await self.session.flush()

    # ------------------------------------------------------------ documents

    async def add_document(
        self, *, direction: Direction, kind: DocumentKind, organ_id: str, counterparty: str,
        edxml_document_id: str, from_organ_id: str, packet_sha256: str, packet_size: int,
        created_at: datetime, subject: str = "", code: str = "",
        promulgation_date: date | None = None, status_code: str | None = None,
        business_doc_type: int = 0, verification: Verification = Verification.VERIFIED,
        id: str | None = None,
    ) -> Document:
        """Record a packet sent or received (its bytes already in the blob store)."""
        row = Document(
            id=id or new_id(), direction=direction, kind=kind, organ_id=organ_id,
            counterparty=counterparty, edxml_document_id=edxml_document_id,
            from_organ_id=from_organ_id, subject=subject, code=code,
            promulgation_date=promulgation_date, status_code=status_code,
            business_doc_type=business_doc_type, packet_sha256=packet_sha256,
            packet_size=packet_size, verification=verification, created_at=created_at)
        self.session.add(row)
        await self._flush_parent()
        return row

    async def get_document(self, document_id: str) -> Document | None:
        """A document row by its id."""
        return await self.session.get(Document, document_id)

    async def find_documents(self, edxml_document_id: str, *, from_organ_id: str | None = None,
                             direction: Direction | None = None,
                             kind: DocumentKind | None = None) -> Sequence[Document]:
        """Document rows carrying an edXML DocumentId (newest first)."""
        q = select(Document).where(col(Document.edxml_document_id) == edxml_document_id)
        if from_organ_id is not None:
            q = q.where(col(Document.from_organ_id) == from_organ_id)
        if direction is not None:
            q = q.where(col(Document.direction) == direction)
        if kind is not None:
            q = q.where(col(Document.kind) == kind)
        return (await self.session.execute(
            q.order_by(col(Document.created_at).desc()))).scalars().all()

    async def list_documents(self, *, direction: Direction | None = None,
                             organ_id: str | None = None, kind: DocumentKind | None = None,
                             limit: int = 100, offset: int = 0) -> Sequence[Document]:
        """Documents, newest first."""
        q = select(Document)
        if direction is not None:
            q = q.where(col(Document.direction) == direction)
        if organ_id is not None:
            q = q.where(col(Document.organ_id) == organ_id)
        if kind is not None:
            q = q.where(col(Document.kind) == kind)
        q = q.order_by(col(Document.created_at).desc(), col(Document.id)).limit(limit)
        return (await self.session.execute(q.offset(offset))).scalars().all()

    # ------------------------------------------------------------ deliveries

    async def add_delivery(self, *, document_id: str, recipient_organ_id: str, route: str,
                           now: datetime, id: str | None = None) -> Delivery:
        """A delivery of an outgoing document to one recipient, state ``queued``."""
        row = Delivery(id=id or new_id(), document_id=document_id,
                       recipient_organ_id=recipient_organ_id, route=route,
                       state=DeliveryState.QUEUED, attempts=0, next_attempt_at=now,
                       created_at=now, updated_at=now)
        self.session.add(row)
        await self._flush_parent()
        return row

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        """A delivery row by its id."""
        return await self.session.get(Delivery, delivery_id)

    async def deliveries_of(self, document_id: str) -> Sequence[Delivery]:
        """The deliveries of one document, by recipient."""
        q = (select(Delivery).where(col(Delivery.document_id) == document_id)
             .order_by(col(Delivery.recipient_organ_id)))
        return (await self.session.execute(q)).scalars().all()

    async def list_deliveries(self, *, states: Sequence[DeliveryState] | None = None,
                              recipient_organ_id: str | None = None, limit: int = 100,
                              offset: int = 0) -> Sequence[Delivery]:
        """Deliveries, newest first, optionally only in ``states`` / to one recipient."""
        q = select(Delivery)
        if states:
            q = q.where(col(Delivery.state).in_(list(states)))
        if recipient_organ_id is not None:
            q = q.where(col(Delivery.recipient_organ_id) == recipient_organ_id)
        q = q.order_by(col(Delivery.created_at).desc(), col(Delivery.id))
        return (await self.session.execute(q.limit(limit).offset(offset))).scalars().all()

    async def count_deliveries(self) -> Mapping[DeliveryState, int]:
        """Number of deliveries per state (metrics)."""
        q = select(col(Delivery.state), func.count()).group_by(col(Delivery.state))
        return {DeliveryState(s): n for s, n in (await self.session.execute(q)).all()}

    async def set_delivery_state(
        self, delivery_id: str, state: DeliveryState, *, now: datetime,
        attempts: int | None = None, next_attempt_at: datetime | None = _UNSET,
        last_error: str | None = _UNSET, receipt_sha256: str | None = _UNSET,
        axis_doc_id: str | None = _UNSET,
    ) -> Delivery:
        """Move a delivery to ``state`` (checked against ``DELIVERY_TRANSITIONS``; setting
        the current non-terminal state again only updates the fields given). Raises
        ``NotFound`` or ``Conflict`` (a transition that is not allowed)."""
        row = await self._delivery(delivery_id)
        current = DeliveryState(row.state)
        if (state != current or current.terminal) and state not in DELIVERY_TRANSITIONS[current]:
            raise Conflict(f"delivery {delivery_id}: {current} -> {state} is not allowed",
                           detail={"delivery_id": delivery_id, "state": current.value})
        row.state = state
        row.updated_at = now
        if attempts is not None:
            row.attempts = attempts
        if next_attempt_at is not _UNSET:
            row.next_attempt_at = next_attempt_at
        if last_error is not _UNSET:
            row.last_error = last_error
        if receipt_sha256 is not _UNSET:
            row.receipt_sha256 = receipt_sha256
        if axis_doc_id is not _UNSET:
            row.axis_doc_id = axis_doc_id
        return row

    async def set_delivery_status(self, delivery_id: str, status_code: str, *,
                                  at: datetime, now: datetime) -> bool:
        """Record the recipient's latest status (``at`` = the status packet's Timestamp).
        An older status than the one shown is kept in the timeline only: returns False."""
        row = await self._delivery(delivery_id)
        if row.status_at is not None and at < row.status_at:
            return False
        row.status_code, row.status_at, row.updated_at = status_code, at, now
        return True

    async def find_delivery_for_status(self, edxml_document_id: str, *,
                                       recipient_organ_id: str) -> Delivery | None:
        """The delivery of the edoc we sent under ``edxml_document_id`` to the organisation
        now sending a status about it (``None``: an orphan status, DESIGN §7)."""
        q = (select(Delivery).join(Document, col(Document.id) == col(Delivery.document_id))
             .where(col(Document.edxml_document_id) == edxml_document_id,
                    col(Document.direction) == Direction.OUT,
                    col(Document.kind) == DocumentKind.EDOC,
                    col(Delivery.recipient_organ_id) == recipient_organ_id)
             .order_by(col(Document.created_at).desc()).limit(1))
        return (await self.session.execute(q)).scalars().first()

    async def _delivery(self, delivery_id: str) -> Delivery:
        row = await self.session.get(Delivery, delivery_id)
        if row is None:
            raise NotFound(f"no delivery {delivery_id}", detail={"delivery_id": delivery_id})
        return row

    # ------------------------------------------------------------ events (append-only)

    async def append_event(self, *, kind: str, at: datetime, actor: str,
                           document_id: str | None = None, delivery_id: str | None = None,
                           evidence: Mapping[str, Any] | None = None) -> Event:
        """Append one event to the hash-chained log (see :mod:`docnode.store.chain`).
        ``evidence`` must be JSON-serialisable (e.g. ``{"receipt_sha256": …}``)."""
        # The head row is the chain's lock: FOR UPDATE on PostgreSQL; on SQLite the
        # transaction already holds the write lock (BEGIN IMMEDIATE).
        head = self._head
        if head is None:
            head = await self.session.get(EventChainHead, HEAD_ID, with_for_update=True)
            if head is None:
                raise NotFound("the event chain head is missing (store not migrated?)")
            self._head = head  # locked until this transaction ends: no need to re-read
        text = canonical_json(dict(evidence or {}))
        ev_id = head.last_id + 1
        digest = event_hash(head.last_hash, id=ev_id, document_id=document_id,
                            delivery_id=delivery_id, kind=str(kind), at=at, actor=actor,
                            evidence=text)
        row = Event(id=ev_id, document_id=document_id, delivery_id=delivery_id,
                    kind=str(kind), at=at, actor=actor, evidence=text,
                    prev_hash=head.last_hash, hash=digest)
        self.session.add(row)
        head.last_id, head.last_hash = ev_id, digest
        return row

    async def timeline(self, document_id: str) -> Sequence[Event]:
        """All events of a document (any of its deliveries included), in order."""
        q = select(Event).where(col(Event.document_id) == document_id).order_by(col(Event.id))
        return (await self.session.execute(q)).scalars().all()

    async def delivery_timeline(self, delivery_id: str) -> Sequence[Event]:
        """The events of one delivery, in order."""
        q = select(Event).where(col(Event.delivery_id) == delivery_id).order_by(col(Event.id))
        return (await self.session.execute(q)).scalars().all()

    # ------------------------------------------------------------ inbox and dedup

    async def add_inbox(self, *, document_id: str, organ_id: str, from_organ_id: str,
                        edxml_document_id: str, packet_sha256: str,
                        received_at: datetime) -> InboxEntry:
        """Record a received edoc. The (from, DocumentId) key is UNIQUE: a duplicate ends
        the transaction with ``Conflict`` — call :meth:`find_inbox` first."""
        row = InboxEntry(document_id=document_id, organ_id=organ_id,
                         from_organ_id=from_organ_id, edxml_document_id=edxml_document_id,
                         packet_sha256=packet_sha256, received_at=received_at)
        self.session.add(row)
        return row

    async def find_inbox(self, from_organ_id: str, edxml_document_id: str) -> InboxEntry | None:
        """The inbox entry under the dedup key (DESIGN §7), if any."""
        q = select(InboxEntry).where(col(InboxEntry.from_organ_id) == from_organ_id,
                                     col(InboxEntry.edxml_document_id) == edxml_document_id)
        return (await self.session.execute(q)).scalars().first()

    async def get_inbox(self, document_id: str) -> InboxEntry | None:
        return await self.session.get(InboxEntry, document_id)

    async def list_inbox(self, *, organ_id: str | None = None, limit: int = 100,
                         offset: int = 0) -> Sequence[InboxEntry]:
        """Received edocs, newest first."""
        q = select(InboxEntry)
        if organ_id is not None:
            q = q.where(col(InboxEntry.organ_id) == organ_id)
        q = q.order_by(col(InboxEntry.received_at).desc(), col(InboxEntry.document_id))
        return (await self.session.execute(q.limit(limit).offset(offset))).scalars().all()

    async def set_inbox_status(self, document_id: str, status_code: str, *,
                               at: datetime) -> InboxEntry:
        """The latest status we sent for a received document."""
        row = await self.session.get(InboxEntry, document_id)
        if row is None:
            raise NotFound(f"no inbox entry {document_id}", detail={"document_id": document_id})
        row.status_code, row.status_at = status_code, at
        return row

    async def add_received_status(self, *, document_id: str, from_organ_id: str,
                                  response_for_document_id: str, status_code: str,
                                  timestamp: datetime, packet_sha256: str,
                                  received_at: datetime,
                                  delivery_id: str | None) -> ReceivedStatus:
        """Record a status packet received (``delivery_id`` None = orphan). Dedup key:
        (from, response_for, code, timestamp) — :meth:`find_received_status` first."""
        row = ReceivedStatus(document_id=document_id, delivery_id=delivery_id,
                             from_organ_id=from_organ_id,
                             response_for_document_id=response_for_document_id,
                             status_code=status_code, timestamp=timestamp,
                             packet_sha256=packet_sha256, received_at=received_at)
        self.session.add(row)
        return row

    async def find_received_status(self, *, from_organ_id: str, response_for_document_id: str,
                                   status_code: str,
                                   timestamp: datetime) -> ReceivedStatus | None:
        """The status already received under the dedup key, if any."""
        q = select(ReceivedStatus).where(
            col(ReceivedStatus.from_organ_id) == from_organ_id,
            col(ReceivedStatus.response_for_document_id) == response_for_document_id,
            col(ReceivedStatus.status_code) == status_code,
            col(ReceivedStatus.timestamp) == timestamp)
        return (await self.session.execute(q)).scalars().first()

    async def record_receipt(self, *, packet_sha256: str, receipt_sha256: str,
                             document_id: str, now: datetime) -> Receipt:
        """Remember the receipt answered for the packet ``packet_sha256``."""
        row = Receipt(packet_sha256=packet_sha256, receipt_sha256=receipt_sha256,
                      document_id=document_id, created_at=now)
        self.session.add(row)
        return row

    async def find_receipt(self, packet_sha256: str) -> Receipt | None:
        """The receipt answered for these exact bytes before (a duplicate gets it again)."""
        return await self.session.get(Receipt, packet_sha256)

    # ------------------------------------------------------------ outbox (queue items)

    async def enqueue(self, kind: WorkKind, ref: str, *, now: datetime,
                      delay_s: float = 0.0) -> OutboxItem:
        """Add a work item in THIS transaction (the transactional outbox): it exists iff the
        use case committed. ``ref`` is a row id, never a payload."""
        row = OutboxItem(kind=kind, ref=ref, state=OutboxState.READY, attempts=0,
                         next_attempt_at=now + timedelta(seconds=delay_s), lease_token=0,
                         created_at=now, updated_at=now)
        self.session.add(row)
        await self._flush_parent()
        return row

    # ------------------------------------------------------------ peers

    async def upsert_peer(self, *, organ_id: str, url: str, now: datetime, name: str = "",
                          source: str = "config") -> Peer:
        """Create or replace the route to ``organ_id``."""
        row = await self.session.get(Peer, organ_id)
        if row is None:
            row = Peer(organ_id=organ_id, url=url, name=name, source=source, updated_at=now)
            self.session.add(row)
        else:
            row.url, row.name, row.source, row.updated_at = url, name, source, now
        return row

    async def get_peer(self, organ_id: str) -> Peer | None:
        return await self.session.get(Peer, organ_id)

    async def list_peers(self) -> Sequence[Peer]:
        return (await self.session.execute(
            select(Peer).order_by(col(Peer.organ_id)))).scalars().all()

    async def delete_peer(self, organ_id: str) -> bool:
        """Remove a route; False if there was none."""
        row = await self.session.get(Peer, organ_id)
        if row is None:
            return False
        await self.session.delete(row)
        await self.session.flush()  # so that a later get() in this transaction sees it gone
        return True

    # ------------------------------------------------------------ axis directory

    async def replace_agencies(self, entries: Sequence[Agency]) -> tuple[int, int]:
        """Make the stored axis directory exactly ``entries`` (the latest getAgenciesList);
        returns (kept or added, removed)."""
        wanted = {e.organ_id: e for e in entries}
        stored = {a.organ_id: a for a in (await self.session.execute(
            select(Agency))).scalars().all()}
        removed = 0
        for organ_id, row in stored.items():
            if organ_id not in wanted:
                await self.session.delete(row)
                removed += 1
        for organ_id, entry in wanted.items():
            existing = stored.get(organ_id)
            if existing is None:
                self.session.add(entry)
            else:
                row = existing
                row.name, row.mail, row.parent = entry.name, entry.mail, entry.parent
                row.axis_id, row.synced_at = entry.axis_id, entry.synced_at
        return len(wanted), removed

    async def list_agencies(self) -> Sequence[Agency]:
        return (await self.session.execute(
            select(Agency).order_by(col(Agency.organ_id)))).scalars().all()

    # ------------------------------------------------------------ idempotency keys

    async def get_idempotency(self, scope: str, key: str) -> IdempotencyKey | None:
        """A stored answer for (caller, Idempotency-Key)."""
        return await self.session.get(IdempotencyKey, (scope, key))

    async def put_idempotency(self, *, scope: str, key: str, request_sha256: str,
                              response: Mapping[str, Any], now: datetime,
                              document_id: str | None = None) -> IdempotencyKey:
        """Store the answer given for (caller, key); a clash ends in ``Conflict``."""
        row = IdempotencyKey(scope=scope, key=key, request_sha256=request_sha256,
                             response=canonical_json(dict(response)),
                             document_id=document_id, created_at=now)
        self.session.add(row)
        return row
