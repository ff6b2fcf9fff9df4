"""The receive path of :class:`docnode.service.NodeService` (DESIGN §4, rules 2-4 of
``docnode.service``), kept in its own module for size; NodeService mixes it in.

Rules:
2. Receive (direct server, axis poller): verify (``docnode.verification.verify_incoming``:
   size, parse, schema, signature, path + revocation, sender binding, freshness) → dedup on
   the signed key → store + events → signed receipt (status 01 naming the SHA-256 of the
   exact bytes). The same bytes again get the ORIGINAL receipt (200); different bytes under
   the same key are ``duplicate_conflict`` (409), logged as a security event.
3. On the direct transport the signed receipt IS the status 01 "arrived".
4. Statuses are deduplicated on (From, ResponseFor DocumentId, StatusCode, Timestamp). A
   status about a document we never sent to that organisation is acknowledged (202),
   stored, flagged as an orphan security event, and changes no delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from docnode import errors
from docnode.clock import Clock
from docnode.group_commit import GroupCommitter
from docnode.logging import bind, get_logger
from docnode.offload import Offloader
from docnode.signer import PacketSigner
from docnode.store import Store
from docnode.store.enums import Direction, DocumentKind, EventKind, Verification
from docnode.store.sync_tx import SyncTransaction
from docnode.transport.direct_server import PeerInfo, ReceiveOutcome
from docnode.verification import VerificationContext, VerifiedIncoming, verify_incoming
from envelopes.model import BusinessDocType, Edoc, Organization, StatusCode, StatusMessage
from envelopes.organ import OrganId
from envelopes.receipt import build_receipt

log = get_logger("service")


class ReceivePath:
    """Receiving packets; expects the attributes NodeService sets in its constructor."""

    organ_ids: tuple[str, ...]
    store: Store
    signer: PacketSigner
    _verification: VerificationContext
    _offloader: Offloader
    _clock: Clock
    _writer: GroupCommitter
    _names: Callable[[str], str]

    def organization(self, organ_id: str | None = None) -> Organization:
        """One of this node's organisations (default: the first) as an edXML party."""
        oid = organ_id or self.organ_ids[0]
        return Organization(organ_id=OrganId.parse(oid), organ_name=self._names(oid))

    # --- receive (rules 2-4) ---------------------------------------------------------------

    async def receive(self, data: bytes, *, peer: PeerInfo,
                      authenticated_axis: bool = False) -> ReceiveOutcome:
        """The receive path of the direct server (``PacketReceiver``) and of the axis poller
        (``authenticated_axis``: the packet came over an HMAC-authenticated axis connection,
        which is where ``legacy-allowed`` may accept unsigned packets, DESIGN §7)."""
        now = self._clock.now()
        verified = await verify_incoming(
            data, context=self._verification, at=now, offloader=self._offloader,
            authenticated_axis=authenticated_axis,
        )
        with bind(organ_id=verified.sender):
            packet, sha = verified.packet, verified.packet_sha256
            edoc_key = (verified.sender, packet.document_id) if isinstance(packet, Edoc) else None

            def lookups(tx: SyncTransaction) -> tuple[str | None, str | None]:
                # Both dedup look-ups of an edoc in one read: these exact bytes before (the
                # original receipt), and its (From, DocumentId) key.
                return (tx.find_receipt(sha),
                        None if edoc_key is None else tx.find_inbox(*edoc_key))

            receipt_sha, original = await self.store.read_sync(lookups)
            if receipt_sha is not None:
                log.info("duplicate_received", packet_sha256=sha)
                return ReceiveOutcome(await self.store.blobs.get(receipt_sha), duplicate=True)
            if isinstance(packet, Edoc):
                return await self._receive_edoc(data, verified, packet, now, original=original)
            return await self._receive_status(data, verified, packet, now)

    async def _earlier_receipt(self, packet_sha256: str) -> bytes | None:
        receipt_sha = await self.store.read_sync(lambda tx: tx.find_receipt(packet_sha256))
        return None if receipt_sha is None else await self.store.blobs.get(receipt_sha)

    def _ours(self, edoc: Edoc) -> str:
        for org in edoc.to:
            if str(org.organ_id) in self.organ_ids:
                return str(org.organ_id)
        raise errors.UnknownRecipient(
            "none of the packet's recipients is served by this node",
            detail={"to": [str(o.organ_id) for o in edoc.to]},
        )

    async def _sign_receipt(
        self, *, receiver: str, sender: str, document_id: str, code: str,
        promulgation_date: object, packet_sha256: str, at: datetime,
    ) -> bytes:
        status = build_receipt(
            receiver=self.organization(receiver), sender=OrganId.parse(sender, lenient=True),
            document_id=document_id, code=code,
            promulgation_date=promulgation_date,  # type: ignore[arg-type]
            packet_sha256=packet_sha256, at=at,
        )
        return await self.signer.sign_status(status)

    def _conflict(
        self, verified: VerifiedIncoming, key: dict[str, object]
    ) -> errors.DuplicateConflict:
        log.security("duplicate_conflict", packet_sha256=verified.packet_sha256, **key)
        return errors.DuplicateConflict(
            "a different packet with the same key was received before", detail=key
        )

    async def _receive_edoc(
        self, data: bytes, verified: VerifiedIncoming, edoc: Edoc, now: datetime, *,
        original: str | None,
    ) -> ReceiveOutcome:
        """``original``: the document id already stored under the edoc's dedup key."""
        sender, sha = verified.sender, verified.packet_sha256
        key: dict[str, object] = {"from_organ_id": sender, "document_id": edoc.document_id}
        with bind(document_id=edoc.document_id):
            ours = self._ours(edoc)
            if original is not None:
                if edoc.business.doc_type != BusinessDocType.NEW:
                    return await self._receive_change(data, verified, edoc,
                                                      original_id=original,
                                                      ours=ours, now=now)
                raise self._conflict(verified, key)
            receipt = await self._sign_receipt(
                receiver=ours, sender=sender, document_id=edoc.document_id,
                code=str(edoc.code), promulgation_date=edoc.promulgation_info.promulgation_date,
                packet_sha256=sha, at=now,
            )
            await self.store.blobs.put(data)
            receipt_sha = await self.store.blobs.put(receipt)

            def unit(tx: SyncTransaction) -> None:
                doc_id = tx.add_document(
                    direction=Direction.IN, kind=DocumentKind.EDOC, organ_id=ours,
                    counterparty=sender, edxml_document_id=edoc.document_id,
                    from_organ_id=sender, packet_sha256=sha, packet_size=len(data),
                    created_at=now, subject=edoc.subject, code=str(edoc.code),
                    promulgation_date=edoc.promulgation_info.promulgation_date,
                    business_doc_type=int(edoc.business.doc_type),
                    verification=_verification(verified),
                )
                # The inbox entry shows our signed receipt as the 01 we sent (rule 3).
                tx.add_inbox(document_id=doc_id, organ_id=ours, from_organ_id=sender,
                             edxml_document_id=edoc.document_id, packet_sha256=sha,
                             received_at=now, status_code=StatusCode.ARRIVED.value,
                             status_at=now)
                tx.record_receipt(packet_sha256=sha, receipt_sha256=receipt_sha,
                                  document_id=doc_id, now=now)
                tx.append_event(
                    kind=EventKind.RECEIVED, at=now, actor=f"peer:{sender}",
                    document_id=doc_id, evidence=_evidence(verified),
                )
                tx.append_event(
                    kind=EventKind.RECEIPT_SENT, at=now, actor="system", document_id=doc_id,
                    evidence={"receipt_sha256": receipt_sha, "status_code": "01"},
                )

            try:
                await self._writer.run(unit)
            except errors.Conflict:
                # A concurrent request with the same key won the race (UNIQUE keys): answer
                # as if we had seen it first.
                again = await self._earlier_receipt(sha)
                if again is not None:
                    return ReceiveOutcome(again, duplicate=True)
                raise self._conflict(verified, key) from None
            log.info("received", packet_sha256=sha, attachments=len(edoc.attachments))
        return ReceiveOutcome(receipt)

    async def _receive_change(
        self, data: bytes, verified: VerifiedIncoming, edoc: Edoc, *, original_id: str,
        ours: str, now: datetime,
    ) -> ReceiveOutcome:
        """A revocation/update (spec §2.5) of a document we received: same DocumentId, so it
        is stored as its own IN row (not an inbox entry) and shown on the original's timeline
        as ``received`` with ``change``; the clerk answers 15 or 16 (``change_status``)."""
        sender, sha = verified.sender, verified.packet_sha256
        receipt = await self._sign_receipt(
            receiver=ours, sender=sender, document_id=edoc.document_id, code=str(edoc.code),
            promulgation_date=edoc.promulgation_info.promulgation_date, packet_sha256=sha,
            at=now)
        await self.store.blobs.put(data)
        receipt_sha = await self.store.blobs.put(receipt)
        doc_type = BusinessDocType(edoc.business.doc_type)
        async with self.store.transaction() as tx:
            doc = await tx.add_document(
                direction=Direction.IN, kind=DocumentKind.EDOC, organ_id=ours,
                counterparty=sender, edxml_document_id=edoc.document_id, from_organ_id=sender,
                packet_sha256=sha, packet_size=len(data), created_at=now, subject=edoc.subject,
                code=str(edoc.code), promulgation_date=edoc.promulgation_info.promulgation_date,
                business_doc_type=int(doc_type), verification=_verification(verified))
            await tx.record_receipt(packet_sha256=sha, receipt_sha256=receipt_sha,
                                    document_id=doc.id, now=now)
            await tx.append_event(
                kind=EventKind.RECEIVED, at=now, actor=f"peer:{sender}", document_id=original_id,
                evidence={**_evidence(verified), "change": doc_type.name.lower(),
                          "business_doc_type": int(doc_type), "reason": edoc.business.reason,
                          "change_document_id": doc.id})
        log.info("change_received", change=doc_type.name.lower(), packet_sha256=sha)
        return ReceiveOutcome(receipt)

    async def _receive_status(
        self, data: bytes, verified: VerifiedIncoming, status: StatusMessage, now: datetime
    ) -> ReceiveOutcome:
        sender, sha = verified.sender, verified.packet_sha256
        rf = status.response_for
        code = StatusCode(status.status_code).value
        key: dict[str, object] = {
            "from_organ_id": sender, "response_for": rf.document_id, "status_code": code,
               "timestamp": status.timestamp.isoformat()}
        with bind(document_id=rf.document_id):
            if await self.store.read_sync(lambda tx: tx.received_status_exists(
                from_organ_id=sender, response_for_document_id=rf.document_id,
                status_code=code, timestamp=status.timestamp,
            )):
                raise self._conflict(verified, key)
            ours = str(rf.organ_id) if rf.organ_id and str(rf.organ_id) in self.organ_ids \
                else self.organ_ids[0]
            receipt = await self._sign_receipt(
                receiver=ours, sender=sender, document_id=rf.document_id, code=rf.code,
                promulgation_date=rf.promulgation_date, packet_sha256=sha, at=now,
            )
            await self.store.blobs.put(data)
            receipt_sha = await self.store.blobs.put(receipt)

            def unit(tx: SyncTransaction) -> bool:
                doc_id = tx.add_document(
                    direction=Direction.IN, kind=DocumentKind.STATUS, organ_id=ours,
                    counterparty=sender, edxml_document_id=rf.document_id,
                    from_organ_id=sender, packet_sha256=sha, packet_size=len(data),
                    created_at=now, code=rf.code, status_code=code,
                    verification=_verification(verified),
                )
                delivery = tx.find_delivery_for_status(rf.document_id,
                                                       recipient_organ_id=sender)
                tx.add_received_status(
                    document_id=doc_id, from_organ_id=sender,
                    response_for_document_id=rf.document_id, status_code=code,
                    timestamp=status.timestamp, packet_sha256=sha, received_at=now,
                    delivery_id=None if delivery is None else delivery.id,
                )
                tx.record_receipt(packet_sha256=sha, receipt_sha256=receipt_sha,
                                  document_id=doc_id, now=now)
                evidence = {**_evidence(verified), "status_code": code,
                            "timestamp": status.timestamp.isoformat(),
                            "description": status.description,
                            "status_document_id": doc_id, "receipt_sha256": receipt_sha}
                # A take-back request (13) comes from the original SENDER: it is about a
                # document we received, so it belongs on that inbox entry (spec §2.4).
                taken_back = None
                if delivery is None and code == StatusCode.TAKE_BACK.value:
                    taken_back = tx.find_inbox(sender, rf.document_id)
                if taken_back is not None:
                    tx.append_event(
                        kind=EventKind.STATUS_RECEIVED, at=now, actor=f"peer:{sender}",
                        document_id=taken_back, evidence=evidence)
                elif delivery is None:
                    tx.append_event(kind=EventKind.SECURITY, at=now,
                                    actor=f"peer:{sender}", document_id=doc_id,
                                    evidence={**evidence, "problem": "orphan_status"})
                else:
                    if not _shown_is_later(delivery.status_code, delivery.status_at,
                                           code, status.timestamp):
                        tx.set_delivery_status(delivery.id, code,
                                               at=status.timestamp, now=now)
                    tx.append_event(
                        kind=EventKind.STATUS_RECEIVED, at=now, actor=f"peer:{sender}",
                        document_id=delivery.document_id, delivery_id=delivery.id,
                        evidence=evidence,
                    )
                return delivery is None and taken_back is None

            try:
                orphan = await self._writer.run(unit)
            except errors.Conflict:
                again = await self._earlier_receipt(sha)
                if again is not None:
                    return ReceiveOutcome(again, duplicate=True)
                raise self._conflict(verified, key) from None
            if orphan:
                log.security("orphan_status", status_code=code, packet_sha256=sha)
            else:
                log.info("status_received", status_code=code)
        return ReceiveOutcome(receipt)


def _shown_is_later(shown: str | None, shown_at: datetime | None, code: str,
                    at: datetime) -> bool:
    """Whether the status a delivery shows is later than an incoming one. edXML timestamps
    have whole seconds, and a clerk's 03, 04 and 06 may share one and arrive in any order
    (parallel workers): on a tie the further step of the workflow (the higher code) wins."""
    if shown is None or shown_at is None:
        return False
    return shown_at > at or (shown_at == at and shown > code)


def _verification(verified: VerifiedIncoming) -> Verification:
    return Verification.UNVERIFIED if verified.unverified else Verification.VERIFIED


def _evidence(verified: VerifiedIncoming) -> dict[str, object]:
    cert = verified.signer_certificate
    return {
        "packet_sha256": verified.packet_sha256,
        "signer": None if cert is None else cert.subject.rfc4514_string(),
        "signer_serial": None if cert is None else format(cert.serial_number, "x"),
        "unverified": verified.unverified,
    }
