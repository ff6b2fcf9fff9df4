"""Receipts: proof that a recipient got exactly the bytes that were sent.

Rules:

1. A receipt is an ordinary status packet (spec/edxml.md §2.4) with StatusCode ``01``
   (Arrived), sent by the recipient and signed like any packet
   (:func:`envelopes.packet.pack_status`).
2. Its ResponseFor names the document (the edoc's sender OrganId, Code, PromulgationDate and
   DocumentId), and its Description carries ``sha256=<64 lowercase hex digits>``: the SHA-256
   of the exact bytes received (``VerifiedPacket.packet_sha256``), nothing re-serialised.
3. :func:`check_receipt` accepts a receipt only if rule 1 and 2 hold for the document and
   digest the sender expects; anything else is :class:`ReceiptInvalid`. Checking the
   receipt's own signature and signer is the caller's job (``open_packet`` + trust).
"""

from __future__ import annotations

import hmac
import re
from datetime import date, datetime

from envelopes.errors import InvalidField, ReceiptInvalid
from envelopes.model import Organization, ResponseFor, StaffInfo, StatusCode, StatusMessage
from envelopes.organ import OrganId

__all__ = ["DIGEST_PREFIX", "build_receipt", "check_receipt", "receipt_digest"]

DIGEST_PREFIX = "sha256="
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DIGEST_IN_TEXT = re.compile(r"(?<!\S)sha256=([0-9a-f]{64})(?!\S)")


def build_receipt(
    *,
    receiver: Organization,
    sender: OrganId,
    document_id: str,
    code: str,
    promulgation_date: date | None,
    packet_sha256: str,
    at: datetime,
) -> StatusMessage:
    """The status-01 receipt ``receiver`` returns to ``sender`` for the packet whose bytes
    hash to ``packet_sha256`` (rules 1-2); ``at`` is the receiving time (aware)."""
    if not isinstance(packet_sha256, str) or _HEX64.fullmatch(packet_sha256) is None:
        raise InvalidField("packet_sha256 must be 64 lowercase hex digits", element="Description")
    return StatusMessage(
        from_=receiver,
        response_for=ResponseFor(
            organ_id=sender,
            code=code,
            promulgation_date=promulgation_date,
            document_id=document_id,
        ),
        staff_info=StaffInfo(),
        status_code=StatusCode.ARRIVED,
        description=DIGEST_PREFIX + packet_sha256,
        timestamp=at,
    )


def receipt_digest(receipt: StatusMessage) -> str | None:
    """The ``sha256=`` digest a status packet's Description carries, or None."""
    found = _DIGEST_IN_TEXT.findall(receipt.description)
    return found[0] if len(found) == 1 else None


def check_receipt(
    receipt: StatusMessage,
    *,
    document_id: str,
    packet_sha256: str,
    receiver: OrganId | None = None,
) -> None:
    """Rule 3: raise :class:`ReceiptInvalid` unless ``receipt`` confirms ``document_id``
    received as exactly the bytes hashing to ``packet_sha256`` (and, when given, comes
    from ``receiver``)."""
    if not isinstance(receipt, StatusMessage):
        raise ReceiptInvalid("a receipt must be a status packet")
    if receipt.status_code is not StatusCode.ARRIVED:
        raise ReceiptInvalid(
            f"a receipt has StatusCode 01, this one {receipt.status_code.value}",
            element="StatusCode",
        )
    if receipt.response_for.document_id != document_id:
        raise ReceiptInvalid(
            f"the receipt is for DocumentId {receipt.response_for.document_id!r}, "
            f"not {document_id!r}",
            element="ResponseFor/DocumentId",
        )
    if receiver is not None and receipt.from_.organ_id != receiver:
        raise ReceiptInvalid(
            f"the receipt comes from {receipt.from_.organ_id}, not {receiver}", element="From"
        )
    digest = receipt_digest(receipt)
    if digest is None:
        raise ReceiptInvalid(
            "the receipt's Description carries no single sha256=<hex> digest",
            element="Description",
        )
    if not hmac.compare_digest(digest, packet_sha256.lower()):
        raise ReceiptInvalid(
            "the receipt confirms other bytes than the ones sent", element="Description"
        )
