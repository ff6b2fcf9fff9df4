"""The hot use cases' store work as SQLAlchemy Core statements on a SYNCHRONOUS connection.

Why: through ``aiosqlite`` every statement costs several hand-offs between the event loop and
the connection's thread, and the ORM's unit of work adds its own bookkeeping: about 0.3-1 ms
of CPU per statement on the reference machine, most of a small document's cost. Here a whole
transaction (a group-commit batch of them, :mod:`docnode.group_commit`) runs in ONE call on a
worker thread (:meth:`docnode.store.Store.write_batch`) with prepared Core statements. On
PostgreSQL (and in-memory SQLite) the same functions run through ``AsyncConnection.run_sync``.

Rules (those of :mod:`docnode.store.repository` hold; these are added):
1. A :class:`SyncTransaction` method never commits and never touches anything but the
   database: no blobs, no clock, no awaiting. The transaction ends when its unit returns.
2. Events are chained exactly as :meth:`Queries.append_event` does (same hash, same head row,
   locked ``FOR UPDATE`` on PostgreSQL); they are written in order when the transaction ends
   (:meth:`SyncTransaction.finish`), after the rows they name, in one ``executemany``.
3. Statements are built once, at import, with bound parameters, so that each execution is
   a cache hit of SQLAlchemy's compiled-statement cache.
4. Dedup keys stay UNIQUE constraints: a clash raises ``IntegrityError`` out of the unit,
   which the store turns into :class:`~docnode.errors.Conflict`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.engine import CursorResult

from docnode.errors import Conflict, NotFound
from docnode.store._queries import new_id
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
    Delivery,
    Document,
    Event,
    EventChainHead,
    IdempotencyKey,
    InboxEntry,
    OutboxItem,
    Receipt,
    ReceivedStatus,
)
from docnode.store.types import canonical_json

AfterCommit = Callable[[], Awaitable[None] | None]
"""A callback run once a transaction committed (sync or async, no arguments)."""


def _t(model: Any) -> Table:
    table: Table = model.__table__
    return table


_DOC, _DLV, _EV, _HEAD = _t(Document), _t(Delivery), _t(Event), _t(EventChainHead)
_INBOX, _RS, _RCPT, _OUT, _IDEM = (_t(InboxEntry), _t(ReceivedStatus), _t(Receipt),
                                   _t(OutboxItem), _t(IdempotencyKey))

# Rule 3: every statement once, parameters bound at execution.
_INSERT_DOC = insert(_DOC)
_INSERT_DLV = insert(_DLV)
_INSERT_EV = insert(_EV)
_INSERT_INBOX = insert(_INBOX)
_INSERT_RS = insert(_RS)
_INSERT_RCPT = insert(_RCPT)
_INSERT_OUT = insert(_OUT)
_INSERT_IDEM = insert(_IDEM)
_HEAD_FOR_UPDATE = (select(_HEAD.c.last_id, _HEAD.c.last_hash)
                    .where(_HEAD.c.id == HEAD_ID).with_for_update())
_SET_HEAD = (update(_HEAD).where(_HEAD.c.id == HEAD_ID)
             .values(last_id=bindparam("new_last_id"), last_hash=bindparam("new_last_hash")))
_FIND_OUT_DOCS = (select(_DOC.c.id).where(
    _DOC.c.edxml_document_id == bindparam("edxml_document_id"),
    _DOC.c.from_organ_id == bindparam("from_organ_id"),
    _DOC.c.direction == bindparam("direction"), _DOC.c.kind == bindparam("kind"))
    .order_by(_DOC.c.created_at.desc()))
_FIND_INBOX = select(_INBOX.c.document_id).where(
    _INBOX.c.from_organ_id == bindparam("from_organ_id"),
    _INBOX.c.edxml_document_id == bindparam("edxml_document_id"))
_FIND_RECEIPT = select(_RCPT.c.receipt_sha256).where(
    _RCPT.c.packet_sha256 == bindparam("packet_sha256"))
_FIND_RS = select(_RS.c.id).where(
    _RS.c.from_organ_id == bindparam("from_organ_id"),
    _RS.c.response_for_document_id == bindparam("response_for_document_id"),
    _RS.c.status_code == bindparam("status_code"), _RS.c.timestamp == bindparam("timestamp"))
_DELIVERY_FOR_STATUS = (
    select(_DLV.c.id, _DLV.c.document_id, _DLV.c.status_code, _DLV.c.status_at)
    .join(_DOC, _DOC.c.id == _DLV.c.document_id)
    .where(_DOC.c.edxml_document_id == bindparam("edxml_document_id"),
           _DOC.c.direction == Direction.OUT, _DOC.c.kind == DocumentKind.EDOC,
           _DLV.c.recipient_organ_id == bindparam("recipient_organ_id"))
    .order_by(_DOC.c.created_at.desc()).limit(1))
_DELIVERY_STATE = select(_DLV.c.state, _DLV.c.document_id).where(
    _DLV.c.id == bindparam("delivery_id"))
_AT = bindparam("at", type_=_DLV.c.status_at.type)
_SET_STATUS = (update(_DLV).where(_DLV.c.id == bindparam("delivery_id"),
                                  or_(_DLV.c.status_at.is_(None), _DLV.c.status_at <= _AT))
               .values(status_code=bindparam("code"), status_at=_AT,
                       updated_at=bindparam("now")))
_PACKET_TO_SEND = (
    select(_DLV.c.route, _DLV.c.recipient_organ_id, _DOC.c.edxml_document_id,
           _DOC.c.from_organ_id, _DOC.c.packet_sha256)
    .join(_DOC, _DOC.c.id == _DLV.c.document_id).where(_DLV.c.id == bindparam("delivery_id")))


@dataclass(frozen=True, slots=True)
class DeliveryStatusRef:
    """What a received status needs of the delivery it is about."""

    id: str
    document_id: str
    status_code: str | None
    status_at: datetime | None


@dataclass(frozen=True, slots=True)
class PacketToSend:
    """A delivery's route and the stored packet it sends (``docnode.delivery``)."""

    route: str
    recipient_organ_id: str
    edxml_document_id: str
    from_organ_id: str
    packet_sha256: str


class SyncTransaction:
    """One transaction's Core work on a synchronous connection (rules 1-4). Obtain it from
    :meth:`Store.write_batch`, :meth:`Store.run_sync` or :meth:`Store.read_sync`."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        """The connection (for statements of other modules, e.g. the queue's)."""
        self._after_commit: list[AfterCommit] = []
        self._head: tuple[int, str] | None = None
        self._events: list[dict[str, Any]] = []

    def after_commit(self, callback: AfterCommit) -> None:
        """Run ``callback`` (sync or async, no arguments) on the loop after the commit."""
        self._after_commit.append(callback)

    @property
    def callbacks(self) -> list[AfterCommit]:
        return list(self._after_commit)

    def execute(self, stmt: Any, params: Mapping[str, Any] | None = None) -> CursorResult[Any]:
        result: CursorResult[Any] = self.connection.execute(stmt, params)
        return result

    def finish(self) -> None:
        """Write the buffered events and the chain head (rule 2); the store calls it just
        before the commit."""
        if not self._events or self._head is None:
            return
        self.connection.execute(_INSERT_EV, self._events)
        self.connection.execute(_SET_HEAD, {"new_last_id": self._head[0],
                                            "new_last_hash": self._head[1]})
        self._events = []

    # ------------------------------------------------------------ documents

    def add_document(
        self, *, direction: Direction, kind: DocumentKind, organ_id: str, counterparty: str,
        edxml_document_id: str, from_organ_id: str, packet_sha256: str, packet_size: int,
        created_at: datetime, subject: str = "", code: str = "",
        promulgation_date: date | None = None, status_code: str | None = None,
        business_doc_type: int = 0, verification: Verification = Verification.VERIFIED,
        id: str | None = None,
    ) -> str:
        """As :meth:`Queries.add_document`; returns the new row's id."""
        doc_id = id or new_id()
        self.connection.execute(_INSERT_DOC, {
            "id": doc_id, "direction": direction, "kind": kind, "organ_id": organ_id,
            "counterparty": counterparty, "edxml_document_id": edxml_document_id,
            "from_organ_id": from_organ_id, "subject": subject, "code": code,
            "promulgation_date": promulgation_date, "status_code": status_code,
            "business_doc_type": business_doc_type, "packet_sha256": packet_sha256,
            "packet_size": packet_size, "verification": verification,
            "created_at": created_at})
        return doc_id

    def find_document_ids(self, edxml_document_id: str, *, from_organ_id: str,
                          direction: Direction, kind: DocumentKind) -> list[str]:
        """Ids of the documents carrying an edXML DocumentId from one sender (newest first)."""
        return list(self.connection.execute(_FIND_OUT_DOCS, {
            "edxml_document_id": edxml_document_id, "from_organ_id": from_organ_id,
            "direction": direction, "kind": kind}).scalars())

    # ------------------------------------------------------------ deliveries and queue

    def add_delivery(self, *, document_id: str, recipient_organ_id: str, route: str,
                     now: datetime, id: str | None = None) -> str:
        """As :meth:`Queries.add_delivery` (state ``queued``); returns the new row's id."""
        delivery_id = id or new_id()
        self.connection.execute(_INSERT_DLV, {
            "id": delivery_id, "document_id": document_id,
            "recipient_organ_id": recipient_organ_id, "route": route,
            "state": DeliveryState.QUEUED, "attempts": 0, "next_attempt_at": now,
            "last_error": None, "receipt_sha256": None, "axis_doc_id": None,
            "status_code": None, "status_at": None, "created_at": now, "updated_at": now})
        return delivery_id

    def enqueue(self, kind: WorkKind, ref: str, *, now: datetime, delay_s: float = 0.0) -> None:
        """As :meth:`Queries.enqueue`: the work item exists iff this transaction commits."""
        self.connection.execute(_INSERT_OUT, {
            "kind": kind, "ref": ref, "state": OutboxState.READY, "attempts": 0,
            "next_attempt_at": now + timedelta(seconds=delay_s), "lease_owner": None,
            "lease_expires_at": None, "lease_token": 0, "last_error": None,
            "created_at": now, "updated_at": now})

    def set_delivery_state(
        self, delivery_id: str, state: DeliveryState, *, now: datetime,
        **fields: Any,
    ) -> str:
        """As :meth:`Queries.set_delivery_state` (same transition rule; ``fields`` among
        attempts, next_attempt_at, last_error, receipt_sha256, axis_doc_id); returns the
        delivery's document id. Raises ``NotFound`` or ``Conflict``."""
        row = self.connection.execute(_DELIVERY_STATE, {"delivery_id": delivery_id}).first()
        if row is None:
            raise NotFound(f"no delivery {delivery_id}", detail={"delivery_id": delivery_id})
        current = DeliveryState(row.state)
        if (state != current or current.terminal) and state not in DELIVERY_TRANSITIONS[current]:
            raise Conflict(f"delivery {delivery_id}: {current} -> {state} is not allowed",
                           detail={"delivery_id": delivery_id, "state": current.value})
        unknown = set(fields) - _DELIVERY_FIELDS
        if unknown:
            raise TypeError(f"not delivery fields: {sorted(unknown)}")
        self.connection.execute(_set_delivery(frozenset(fields)), {
            "delivery_id": delivery_id, "v_state": state, "v_updated_at": now,
            **{f"v_{name}": value for name, value in fields.items()}})
        return str(row.document_id)

    def set_delivery_status(self, delivery_id: str, status_code: str, *, at: datetime,
                            now: datetime) -> bool:
        """As :meth:`Queries.set_delivery_status`: an older status than the one shown is
        not recorded (False)."""
        result = self.connection.execute(_SET_STATUS, {"delivery_id": delivery_id,
                                                       "code": status_code, "at": at,
                                                       "now": now})
        return bool(result.rowcount)

    def find_delivery_for_status(self, edxml_document_id: str, *,
                                 recipient_organ_id: str) -> DeliveryStatusRef | None:
        """As :meth:`Queries.find_delivery_for_status`."""
        row = self.connection.execute(_DELIVERY_FOR_STATUS, {
            "edxml_document_id": edxml_document_id,
            "recipient_organ_id": recipient_organ_id}).first()
        return None if row is None else DeliveryStatusRef(row.id, row.document_id,
                                                          row.status_code, row.status_at)

    def packet_to_send(self, delivery_id: str) -> PacketToSend | None:
        """The route and stored packet of a delivery (``None``: the delivery is gone)."""
        row = self.connection.execute(_PACKET_TO_SEND, {"delivery_id": delivery_id}).first()
        return None if row is None else PacketToSend(*row)

    # ------------------------------------------------------------ events (append-only)

    def append_event(self, *, kind: str, at: datetime, actor: str,
                     document_id: str | None = None, delivery_id: str | None = None,
                     evidence: Mapping[str, Any] | None = None) -> int:
        """As :meth:`Queries.append_event` (rule 2); returns the event's id."""
        if self._head is None:
            head = self.connection.execute(_HEAD_FOR_UPDATE).first()
            if head is None:
                raise NotFound("the event chain head is missing (store not migrated?)")
            self._head = (int(head.last_id), str(head.last_hash))
        last_id, last_hash = self._head
        text = canonical_json(dict(evidence or {}))
        ev_id = last_id + 1
        digest = event_hash(last_hash, id=ev_id, document_id=document_id,
                            delivery_id=delivery_id, kind=str(kind), at=at, actor=actor,
                            evidence=text)
        self._events.append({"id": ev_id, "document_id": document_id,
                             "delivery_id": delivery_id, "kind": str(kind), "at": at,
                             "actor": actor, "evidence": text, "prev_hash": last_hash,
                             "hash": digest})
        self._head = (ev_id, digest)
        return ev_id

    # ------------------------------------------------------------ inbox, statuses, receipts

    def add_inbox(self, *, document_id: str, organ_id: str, from_organ_id: str,
                  edxml_document_id: str, packet_sha256: str, received_at: datetime,
                  status_code: str | None = None, status_at: datetime | None = None) -> None:
        """As :meth:`Queries.add_inbox`, optionally with the first status we sent."""
        self.connection.execute(_INSERT_INBOX, {
            "document_id": document_id, "organ_id": organ_id, "from_organ_id": from_organ_id,
            "edxml_document_id": edxml_document_id, "packet_sha256": packet_sha256,
            "received_at": received_at, "status_code": status_code, "status_at": status_at})

    def find_inbox(self, from_organ_id: str, edxml_document_id: str) -> str | None:
        """The document id of the inbox entry under the dedup key (DESIGN §7), if any."""
        value = self.connection.execute(_FIND_INBOX, {
            "from_organ_id": from_organ_id, "edxml_document_id": edxml_document_id}).scalar()
        return None if value is None else str(value)

    def add_received_status(self, *, document_id: str, from_organ_id: str,
                            response_for_document_id: str, status_code: str,
                            timestamp: datetime, packet_sha256: str, received_at: datetime,
                            delivery_id: str | None) -> None:
        """As :meth:`Queries.add_received_status`."""
        self.connection.execute(_INSERT_RS, {
            "document_id": document_id, "delivery_id": delivery_id,
            "from_organ_id": from_organ_id,
            "response_for_document_id": response_for_document_id,
            "status_code": status_code, "timestamp": timestamp,
            "packet_sha256": packet_sha256, "received_at": received_at})

    def received_status_exists(self, *, from_organ_id: str, response_for_document_id: str,
                               status_code: str, timestamp: datetime) -> bool:
        """Whether a status was received under the dedup key already."""
        return self.connection.execute(_FIND_RS, {
            "from_organ_id": from_organ_id,
            "response_for_document_id": response_for_document_id,
            "status_code": status_code, "timestamp": timestamp}).first() is not None

    def record_receipt(self, *, packet_sha256: str, receipt_sha256: str, document_id: str,
                       now: datetime) -> None:
        """As :meth:`Queries.record_receipt`."""
        self.connection.execute(_INSERT_RCPT, {
            "packet_sha256": packet_sha256, "receipt_sha256": receipt_sha256,
            "document_id": document_id, "created_at": now})

    def find_receipt(self, packet_sha256: str) -> str | None:
        """The blob of the receipt answered for these exact bytes before, if any."""
        value = self.connection.execute(_FIND_RECEIPT, {"packet_sha256": packet_sha256}).scalar()
        return None if value is None else str(value)

    # ------------------------------------------------------------ idempotency keys

    def put_idempotency(self, *, scope: str, key: str, request_sha256: str,
                        response: Mapping[str, Any], now: datetime,
                        document_id: str | None = None) -> None:
        """As :meth:`Queries.put_idempotency`; a clash ends in ``Conflict``."""
        self.connection.execute(_INSERT_IDEM, {
            "scope": scope, "key": key, "request_sha256": request_sha256,
            "response": canonical_json(dict(response)), "document_id": document_id,
            "created_at": now})


_DELIVERY_FIELDS = frozenset({"attempts", "next_attempt_at", "last_error", "receipt_sha256",
                              "axis_doc_id"})


@functools.cache
def _set_delivery(fields: frozenset[str]) -> Any:
    """The UPDATE of a delivery's state and ``fields`` (rule 3: one statement per field set;
    SET parameters are named ``v_<column>``, column names being reserved there)."""
    return (update(_DLV).where(_DLV.c.id == bindparam("delivery_id"))
            .values(state=bindparam("v_state"), updated_at=bindparam("v_updated_at"),
                    **{name: bindparam(f"v_{name}") for name in sorted(fields)}))


def outbox_held(item_id: int, lease_token: int) -> Any:
    """The WHERE clause of a queue item still held under ``lease_token`` (queue rule 2)."""
    return and_(_OUT.c.id == item_id, _OUT.c.lease_token == lease_token,
                _OUT.c.state == OutboxState.LEASED)


def delete_outbox(item_id: int, lease_token: int) -> Any:
    return delete(_OUT).where(outbox_held(item_id, lease_token))
