"""The node's use cases (DESIGN §4): submit, receive, change status, apply incoming statuses.

Rules:
1. Submit: validate → route every recipient (``unknown_recipient`` before anything is queued)
   → sign ONCE → blob → ONE transaction: document row, one delivery per recipient, one outbox
   item per delivery, events ``submitted`` + ``queued``. After that commit nothing is lost.
2. Receive (``docnode.receiving``; direct server, axis poller): verify (``verify_incoming``:
   size, parse, schema, signature, path + revocation, sender binding, freshness) → dedup on
   the signed key → store + events → signed receipt (status 01 naming the SHA-256 of the exact
   bytes). The same bytes again get the ORIGINAL receipt (200); different bytes under the same
   key are ``duplicate_conflict`` (409), logged as a security event.
3. On the direct transport the signed receipt IS the status 01 "arrived": the sender records
   it as such on its delivery row, and no separate 01 packet is queued (it would duplicate
   the receipt on the wire). The axis route, where the VXP answer is not signed by the
   recipient, queues a real 01 (``queue_arrival_status``).
4. Statuses are deduplicated on (From, ResponseFor DocumentId, StatusCode, Timestamp). A status
   about a document we never sent to that organisation is acknowledged (202), stored, flagged
   as an orphan security event, and changes no delivery.
5. Clerk actions (03/02/04/05/06) on a received document each become a signed status packet
   queued back to the sender (one transaction: document, delivery, outbox item, events); 02
   needs a reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from docnode import errors
from docnode.clock import Clock
from docnode.directory import Directory
from docnode.group_commit import GroupCommitter
from docnode.logging import bind, get_logger
from docnode.offload import Offloader
from docnode.receiving import ReceivePath
from docnode.signer import PacketSigner
from docnode.store import Store
from docnode.store.enums import Direction, DocumentKind, EventKind, WorkKind
from docnode.store.sync_tx import SyncTransaction
from docnode.transport.direct_client import ReceiptEvidence
from docnode.verification import VerificationContext, verify_incoming
from envelopes.model import (
    Edoc,
    ResponseFor,
    StaffInfo,
    StatusCode,
    StatusMessage,
)
from envelopes.organ import OrganId
from envelopes.receipt import check_receipt

log = get_logger("service")

CLERK_CODES = frozenset({StatusCode.ACCEPTED, StatusCode.REFUSED, StatusCode.ASSIGNED,
                         StatusCode.PROCESSING, StatusCode.COMPLETED,
                         # answers to a revocation/update/take-back (spec §2.5)
                         StatusCode.CHANGE_AGREED, StatusCode.CHANGE_REFUSED})


@dataclass(frozen=True, slots=True)
class SubmitResult:
    document_id: str
    """Our row id (``docnode status ID``)."""
    edxml_document_id: str
    packet_sha256: str
    deliveries: dict[str, str]
    """Recipient OrganId -> delivery id."""


@dataclass(frozen=True, slots=True)
class StatusResult:
    document_id: str
    """The received document the status is about."""
    status_document_id: str
    """The outgoing status packet's row id."""
    status_code: str


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class NodeService(ReceivePath):
    """The use cases over one store, one identity and one directory (the receive path,
    rules 2-4, lives in :mod:`docnode.receiving`)."""

    def __init__(
        self,
        *,
        organ_ids: Sequence[str],
        names: Callable[[str], str],
        store: Store,
        signer: PacketSigner,
        verification: VerificationContext,
        offloader: Offloader,
        directory: Directory,
        clock: Clock,
        on_queued: Callable[[], None] = lambda: None,
        writer: GroupCommitter | None = None,
    ) -> None:
        self.organ_ids = tuple(organ_ids)
        self._names = names
        self.store = store
        self.signer = signer
        self._verification = verification
        self._offloader = offloader
        self.directory = directory
        self._clock = clock
        self._on_queued = on_queued
        # Hot write paths (submit, receive) share commits with concurrent callers.
        self._writer = writer or GroupCommitter(store)

    def set_on_queued(self, callback: Callable[[], None]) -> None:
        """Who to wake after a commit that queued work (the dispatcher, in ``run``)."""
        self._on_queued = callback

    def now(self) -> datetime:
        return self._clock.now()

    # --- submit (rule 1) -----------------------------------------------------------------

    async def submit(
        self,
        edoc: Edoc,
        *,
        actor: str = "system",
        also: Callable[[SyncTransaction, SubmitResult], None] | None = None,
    ) -> SubmitResult:
        """Sign and record ``edoc`` in ONE transaction (rule 1). ``also`` writes more rows in
        that same transaction (the clerk API's idempotency key), so that no crash can leave
        a document without them; like the rest of the unit it runs in the store's worker
        thread (``docnode.group_commit`` rule 1), so it must not block on anything else."""
        sender = str(edoc.from_.organ_id)
        if sender not in self.organ_ids:
            raise errors.ValidationFailed(
                f"From/OrganId {sender} is not one of this node's organisations",
                detail={"errors": [{"field": "from.organ_id", "message": "not ours"}]},
            )
        recipients = list(dict.fromkeys(str(o.organ_id) for o in edoc.to))
        routes = self.directory.routes(recipients)
        data = await self.signer.sign_edoc(edoc)
        sha = await self.store.blobs.put(data)
        now = self._clock.now()
        with bind(document_id=edoc.document_id, organ_id=sender):

            def unit(tx: SyncTransaction) -> SubmitResult:
                earlier = tx.find_document_ids(
                    edoc.document_id, from_organ_id=sender, direction=Direction.OUT,
                    kind=DocumentKind.EDOC,
                )
                if earlier:
                    raise errors.Conflict(
                        f"DocumentId {edoc.document_id} was submitted already",
                        detail={"document_id": earlier[0]},
                    )
                doc_id = tx.add_document(
                    direction=Direction.OUT, kind=DocumentKind.EDOC, organ_id=sender,
                    counterparty=recipients[0], edxml_document_id=edoc.document_id,
                    from_organ_id=sender, packet_sha256=sha, packet_size=len(data),
                    created_at=now, subject=edoc.subject, code=str(edoc.code),
                    promulgation_date=edoc.promulgation_info.promulgation_date,
                    business_doc_type=int(edoc.business.doc_type),
                )
                tx.append_event(
                    kind=EventKind.SUBMITTED, at=now, actor=actor, document_id=doc_id,
                    evidence={"packet_sha256": sha, "recipients": recipients,
                              "edxml_document_id": edoc.document_id},
                )
                deliveries: dict[str, str] = {}
                for oid in recipients:
                    route = str(routes[oid])
                    d_id = tx.add_delivery(document_id=doc_id, recipient_organ_id=oid,
                                           route=route, now=now)
                    tx.enqueue(WorkKind.DELIVER_EDOC, d_id, now=now)
                    tx.append_event(
                        kind=EventKind.QUEUED, at=now, actor=actor, document_id=doc_id,
                        delivery_id=d_id, evidence={"recipient": oid, "route": route},
                    )
                    deliveries[oid] = d_id
                result = SubmitResult(doc_id, edoc.document_id, sha, deliveries)
                if also is not None:
                    also(tx, result)
                tx.after_commit(self._on_queued)
                return result

            result = await self._writer.run(unit)
            log.info("submitted", recipients=recipients, packet_sha256=sha)
        return result

    # --- clerk status changes (rule 5) ----------------------------------------------------

    async def change_status(
        self, document_id: str, code: StatusCode | str, *, reason: str = "",
        staff: StaffInfo | None = None, actor: str = "clerk",
    ) -> StatusResult:
        code = StatusCode(code)
        if code not in CLERK_CODES:
            raise errors.ValidationFailed(
                f"status {code.value} is not a clerk action",
                detail={"errors": [{"field": "status_code", "message": "not allowed"}]})
        if code is StatusCode.REFUSED and not reason.strip():
            raise errors.ValidationFailed(
                "refusing (02) needs a reason",
                detail={"errors": [{"field": "reason", "message": "is required for 02"}]})
        return await self._queue_status(document_id, code, reason=reason, staff=staff,
                                        actor=actor)

    async def queue_arrival_status(self, document_id: str) -> StatusResult:
        """Rule 3: on the axis route the recipient's 01 is a real signed status packet,
        queued back to the sender once the received document is stored."""
        return await self._queue_status(document_id, StatusCode.ARRIVED, reason="",
                                        staff=None, actor="system")

    async def _queue_status(
        self, document_id: str, code: StatusCode, *, reason: str, staff: StaffInfo | None,
        actor: str,
    ) -> StatusResult:
        async with self.store.reader() as tx:
            inbox = await tx.get_inbox(document_id)
            doc = await tx.get_document(document_id)
        if inbox is None or doc is None:
            raise errors.NotFound(f"no received document {document_id}",
                                  detail={"document_id": document_id})
        route = self.directory.route(inbox.from_organ_id)
        now = self._clock.now().replace(microsecond=0)
        status = StatusMessage(
            from_=self.organization(inbox.organ_id),
            response_for=ResponseFor(
                organ_id=OrganId.parse(inbox.from_organ_id, lenient=True),
                code=doc.code, promulgation_date=doc.promulgation_date,
                document_id=inbox.edxml_document_id),
            staff_info=staff or StaffInfo(), status_code=code, description=reason,
            timestamp=now,
        )
        data = await self.signer.sign_status(status)
        sha = await self.store.blobs.put(data)
        with bind(document_id=inbox.edxml_document_id, organ_id=inbox.from_organ_id):
            async with self.store.transaction() as tx:
                sdoc = await tx.add_document(
                    direction=Direction.OUT, kind=DocumentKind.STATUS, organ_id=inbox.organ_id,
                    counterparty=inbox.from_organ_id,
                    edxml_document_id=inbox.edxml_document_id,
                    from_organ_id=inbox.organ_id, packet_sha256=sha, packet_size=len(data),
                    created_at=now, code=doc.code, status_code=code.value,
                )
                d = await tx.add_delivery(document_id=sdoc.id,
                                          recipient_organ_id=inbox.from_organ_id,
                                          route=str(route), now=now)
                await tx.enqueue(WorkKind.DELIVER_STATUS, d.id, now=now)
                await tx.set_inbox_status(document_id, code.value, at=now)
                await tx.append_event(
                    kind=EventKind.STATUS_SENT, at=now, actor=actor, document_id=document_id,
                    evidence={"status_code": code.value, "reason": reason,
                              "status_document_id": sdoc.id, "packet_sha256": sha},
                )
                await tx.append_event(kind=EventKind.QUEUED, at=now, actor=actor,
                                      document_id=sdoc.id, delivery_id=d.id,
                                      evidence={"recipient": inbox.from_organ_id})
                tx.after_commit(self._on_queued)
            log.info("status_queued", status_code=code.value)
        return StatusResult(document_id, sdoc.id, code.value)

    # --- receipts of what we sent (direct_client.ReceiptChecker) ------------------------

    async def check(
        self, receipt: bytes, *, document_id: str, packet_sha256: str, recipient: str
    ) -> ReceiptEvidence:
        """A receipt holds when it verifies like any incoming packet (signature, path,
        revocation, sender binding), comes from the recipient, is a status 01 and names
        our DocumentId and the SHA-256 of the bytes we sent."""
        verified = await verify_incoming(
            receipt, context=self._verification, at=self._clock.now(),
            offloader=self._offloader, check_freshness=False,
        )
        packet = verified.packet
        if not isinstance(packet, StatusMessage):
            raise errors.PeerUnavailable("the peer answered with an edoc, not a receipt")
        if verified.sender != recipient:
            raise errors.SenderMismatch(
                f"receipt signed for {verified.sender}, expected {recipient}",
                detail={"from_organ_id": verified.sender, "expected": recipient})
        check_receipt(packet, document_id=document_id, packet_sha256=packet_sha256)
        return ReceiptEvidence(receipt_sha256=_sha(receipt), signer_organ_id=verified.sender,
                               at=packet.timestamp)

