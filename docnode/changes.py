"""Changes to documents after they were sent (spec §2.5): revocation, update, replacement,
take-back, and the recipient's answers 15/16. Built on the store and :class:`NodeService`
(``service.py`` holds submit/receive/clerk statuses; this module adds the rest).

Rules:
1. Revocation (type 1), update (type 2) and replacement (type 3) are new edoc packets that go
   through :meth:`NodeService.submit` (signed once, one transaction, routed first).
   ``Bussiness/DocumentId`` names the original. Each needs its OWN DocumentId: a receiver
   deduplicates on the signed (From, DocumentId) (DESIGN §7), so re-using the original's would
   be refused as ``duplicate_conflict``. Revocation and update derive it from the original
   (``<original>~revoke``, ``<original>~update<n>``); a replacement has its own Code.
   Revoking twice is ``conflict`` (the derived DocumentId exists already).
2. Take-back is a status 13 (reason required) per recipient of an outgoing edoc, addressed by
   ResponseFor/OrganId; the recipient's answer is 15 (agreed) or 16 (refused), sent back to
   the document's sender like any clerk status.
3. Every status packet here is signed once and queued in ONE transaction with its document
   row, delivery, outbox item and events, as the service does for clerk actions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from docnode import errors
from docnode.clock import Clock
from docnode.metadata import FileInput, edoc_from_metadata
from docnode.offload import Offloader
from docnode.service import NodeService, SubmitResult
from docnode.store import Direction, Document, DocumentKind, EventKind, WorkKind
from envelopes.limits import DEFAULT_LIMITS, Limits
from envelopes.model import (
    Business,
    BusinessDocType,
    Edoc,
    ReplacementInfo,
    ResponseFor,
    StaffInfo,
    StatusCode,
    StatusMessage,
    TraceHeader,
)
from envelopes.organ import OrganId
from envelopes.read import read_packet


@dataclass(frozen=True, slots=True)
class StatusesQueued:
    document_id: str
    """The document the statuses are about."""
    status_code: str
    status_document_ids: tuple[str, ...]
    """One outgoing status packet per addressee."""


def _reason_required(reason: str, code: str) -> None:
    if not reason.strip():
        raise errors.ValidationFailed(
            f"a reason is required for {code}",
            detail={"errors": [{"field": "reason", "message": "is required"}]})


class ChangeService:
    """The change use cases over one :class:`NodeService`."""

    def __init__(self, service: NodeService, *, clock: Clock, offloader: Offloader,
                 limits: Limits = DEFAULT_LIMITS) -> None:
        self._service = service
        self._store = service.store
        self._clock = clock
        self._offloader = offloader
        self._limits = limits

    def _wake(self) -> None:
        # The service holds the one "work was queued" callback (the dispatcher's wake, set
        # by the composition after both exist); read it at call time, not at construction.
        self._service._on_queued()

    async def _outgoing(self, document_id: str) -> tuple[Document, Edoc]:
        async with self._store.reader() as tx:
            doc = await tx.get_document(document_id)
        if doc is None or doc.direction != Direction.OUT or doc.kind != DocumentKind.EDOC:
            raise errors.NotFound(f"no outgoing document {document_id}",
                                  detail={"document_id": document_id})
        data = await self._store.blobs.get(doc.packet_sha256)
        read = await self._offloader.in_thread(read_packet, data, limits=self._limits)
        if not isinstance(read.packet, Edoc):
            raise errors.InternalError(f"stored packet of {document_id} is not an edoc")
        return doc, read.packet

    async def revoke(self, document_id: str, *, reason: str,
                     actor: str = "clerk") -> SubmitResult:
        """Send a revocation (type 1) of an outgoing document to all its recipients."""
        _reason_required(reason, "a revocation")
        doc, original = await self._outgoing(document_id)
        now = self._clock.now()
        edoc = dataclasses.replace(
            original,
            document_id=f"{original.document_id}~revoke",
            business=Business(doc_type=BusinessDocType.REVOCATION, reason=reason,
                              document_id=original.document_id),
            response_for=(_response_for(original, doc.promulgation_date),),
            trace_headers=(TraceHeader(organ_id=original.from_.organ_id, timestamp=now),),
        )
        return await self._service.submit(edoc, actor=actor)

    async def update(self, document_id: str, meta: Mapping[str, Any],
                     files: Sequence[FileInput], *, actor: str = "clerk") -> SubmitResult:
        """Send an update (type 2) of an outgoing document; ``meta`` as for a submission,
        ``to`` and ``code`` default to the original's."""
        return await self._changed(document_id, meta, files, BusinessDocType.UPDATE, actor)

    async def replace(self, document_id: str, meta: Mapping[str, Any],
                      files: Sequence[FileInput], *, actor: str = "clerk") -> SubmitResult:
        """Send a replacement (type 3): a new document (its own Code) naming the original."""
        return await self._changed(document_id, meta, files, BusinessDocType.REPLACEMENT, actor)

    async def _changed(self, document_id: str, meta: Mapping[str, Any],
                       files: Sequence[FileInput], kind: BusinessDocType,
                       actor: str) -> SubmitResult:
        doc, original = await self._outgoing(document_id)
        filled = dict(meta)
        filled.setdefault("to", [str(o.organ_id) for o in original.to])
        reason = str(filled.pop("reason", "") or "")
        if kind is BusinessDocType.UPDATE:
            filled.setdefault("code", str(original.code))
            if "document_id" not in filled:
                filled["document_id"] = (f"{original.document_id}~update"
                                         f"{await self._count_like(original, '~update') + 1}")
        edoc = edoc_from_metadata(filled, files, now=self._clock.now(),
                                  sender=self._service.organization(doc.organ_id))
        replacements: tuple[ReplacementInfo, ...] = ()
        if kind is BusinessDocType.REPLACEMENT:
            replacements = (ReplacementInfo(document_id=original.document_id,
                                            organ_ids=tuple(o.organ_id for o in original.to)),)
        edoc = dataclasses.replace(
            edoc,
            business=Business(doc_type=kind, reason=reason, document_id=original.document_id,
                              replacements=replacements,
                              staff_info=edoc.business.staff_info),
            response_for=(*edoc.response_for, _response_for(original, doc.promulgation_date)),
        )
        return await self._service.submit(edoc, actor=actor)

    async def _count_like(self, original: Edoc, suffix: str) -> int:
        async with self._store.reader() as tx:
            q = select(func.count()).select_from(Document).where(
                col(Document.edxml_document_id).startswith(original.document_id + suffix,
                                                           autoescape=True),
                col(Document.direction) == Direction.OUT)
            return int((await tx.session.execute(q)).scalar_one())

    async def take_back(self, document_id: str, *, reason: str, staff: StaffInfo | None = None,
                        actor: str = "clerk") -> StatusesQueued:
        """Ask every recipient of an outgoing document to give it back (status 13)."""
        _reason_required(reason, "a take-back (13)")
        doc, original = await self._outgoing(document_id)
        async with self._store.reader() as tx:
            deliveries = await tx.deliveries_of(doc.id)
        ids = []
        for d in deliveries:
            rf = ResponseFor(organ_id=OrganId.parse(d.recipient_organ_id, lenient=True),
                             code=doc.code, promulgation_date=doc.promulgation_date,
                             document_id=original.document_id)
            ids.append(await self._queue_status(
                our_organ=doc.organ_id, to=d.recipient_organ_id, response_for=rf,
                code=StatusCode.TAKE_BACK, reason=reason, staff=staff, about=doc, actor=actor))
        return StatusesQueued(doc.id, StatusCode.TAKE_BACK.value, tuple(ids))

    async def answer_change(self, document_id: str, *, agree: bool, reason: str = "",
                            staff: StaffInfo | None = None,
                            actor: str = "clerk") -> StatusesQueued:
        """Answer a revocation, update or take-back of a received document: 15 or 16."""
        code = StatusCode.CHANGE_AGREED if agree else StatusCode.CHANGE_REFUSED
        if not agree:
            _reason_required(reason, "refusing a change (16)")
        async with self._store.reader() as tx:
            inbox = await tx.get_inbox(document_id)
            doc = await tx.get_document(document_id)
        if inbox is None or doc is None:
            raise errors.NotFound(f"no received document {document_id}",
                                  detail={"document_id": document_id})
        rf = ResponseFor(organ_id=OrganId.parse(inbox.from_organ_id, lenient=True),
                         code=doc.code, promulgation_date=doc.promulgation_date,
                         document_id=inbox.edxml_document_id)
        sid = await self._queue_status(
            our_organ=inbox.organ_id, to=inbox.from_organ_id, response_for=rf, code=code,
            reason=reason, staff=staff, about=doc, actor=actor, inbox=True)
        return StatusesQueued(doc.id, code.value, (sid,))

    async def _queue_status(self, *, our_organ: str, to: str, response_for: ResponseFor,
                            code: StatusCode, reason: str, staff: StaffInfo | None,
                            about: Document, actor: str, inbox: bool = False) -> str:
        route = self._service.directory.route(to)
        now = self._clock.now().replace(microsecond=0)
        status = StatusMessage(from_=self._service.organization(our_organ),
                               response_for=response_for, staff_info=staff or StaffInfo(),
                               status_code=code, description=reason, timestamp=now)
        data = await self._service.signer.sign_status(status)
        sha = await self._store.blobs.put(data)
        async with self._store.transaction() as tx:
            sdoc = await tx.add_document(
                direction=Direction.OUT, kind=DocumentKind.STATUS, organ_id=our_organ,
                counterparty=to, edxml_document_id=response_for.document_id,
                from_organ_id=our_organ, packet_sha256=sha, packet_size=len(data),
                created_at=now, code=about.code, status_code=code.value)
            d = await tx.add_delivery(document_id=sdoc.id, recipient_organ_id=to,
                                      route=str(route), now=now)
            await tx.enqueue(WorkKind.DELIVER_STATUS, d.id, now=now)
            if inbox:
                await tx.set_inbox_status(about.id, code.value, at=now)
            await tx.append_event(
                kind=EventKind.STATUS_SENT, at=now, actor=actor, document_id=about.id,
                evidence={"status_code": code.value, "reason": reason, "recipient": to,
                          "status_document_id": sdoc.id, "packet_sha256": sha})
            await tx.append_event(kind=EventKind.QUEUED, at=now, actor=actor,
                                  document_id=sdoc.id, delivery_id=d.id,
                                  evidence={"recipient": to})
            tx.after_commit(self._wake)
        return sdoc.id


def _response_for(original: Edoc, promulgation_date: date | None) -> ResponseFor:
    return ResponseFor(organ_id=original.from_.organ_id, code=str(original.code),
                       promulgation_date=promulgation_date,
                       document_id=original.document_id)
