"""envelopes.receipt: status-01 receipts naming the DocumentId and the SHA-256 received."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date, datetime
from typing import TYPE_CHECKING

import pytest

from envelopes.errors import EnvelopeError
from envelopes.model import VN_TZ, OrganId, Organization, StatusCode, StatusMessage
from envelopes.packet import open_packet, pack_status
from envelopes.receipt import build_receipt, check_receipt, receipt_digest

if TYPE_CHECKING:
    from tests.conftest import Pki

G22, H41 = OrganId("000.00.00.G22"), OrganId("000.00.00.H41")
RECEIVER = Organization(H41, organ_name="Sở Nội vụ Hà Nội")
DOC = "000.00.00.G22,2026/12/01,15/BNV-VP"
SENT = b"<edXML>...the exact bytes that were sent...</edXML>"
DIGEST = hashlib.sha256(SENT).hexdigest()
AT = datetime(2026, 12, 1, 10, 0, 5, tzinfo=VN_TZ)


def receipt(**changes: object) -> StatusMessage:
    built = build_receipt(
        receiver=RECEIVER,
        sender=G22,
        document_id=DOC,
        code="15/BNV-VP",
        promulgation_date=date(2026, 12, 1),
        packet_sha256=DIGEST,
        at=AT,
    )
    return dataclasses.replace(built, **changes)  # type: ignore[arg-type]


def code_of(status: StatusMessage, **kwargs: object) -> str:
    with pytest.raises(EnvelopeError) as info:
        check_receipt(status, **{"document_id": DOC, "packet_sha256": DIGEST, **kwargs})  # type: ignore[arg-type]
    return info.value.code


def test_receipt_fields() -> None:
    built = receipt()
    assert built.status_code is StatusCode.ARRIVED
    assert built.from_ == RECEIVER
    assert built.response_for.document_id == DOC
    assert built.response_for.organ_id == G22
    assert built.description == f"sha256={DIGEST}"
    assert built.timestamp == AT
    assert receipt_digest(built) == DIGEST
    check_receipt(built, document_id=DOC, packet_sha256=DIGEST, receiver=H41)


def test_signed_receipt_round_trip(pki: Pki) -> None:
    signed = pack_status(
        receipt(), key=pki.valid.key, certificate=pki.valid.certificate, chain=pki.valid.chain
    )
    opened = open_packet(signed)
    assert isinstance(opened.packet, StatusMessage)
    check_receipt(opened.packet, document_id=DOC, packet_sha256=DIGEST)


def test_other_bytes_are_not_confirmed() -> None:
    other = hashlib.sha256(SENT + b" ").hexdigest()
    assert code_of(receipt(), packet_sha256=other) == "receipt_invalid"


def test_other_document_is_not_confirmed() -> None:
    assert code_of(receipt(), document_id=DOC + "x") == "receipt_invalid"


@pytest.mark.parametrize("status", [c for c in StatusCode if c is not StatusCode.ARRIVED])
def test_only_status_01_is_a_receipt(status: StatusCode) -> None:
    assert code_of(receipt(status_code=status)) == "receipt_invalid"


@pytest.mark.parametrize(
    "description",
    [
        "",
        "Đã đến",
        f"sha256={DIGEST[:-1]}",
        f"sha256={DIGEST.upper()}",
        f"sha256={DIGEST}x",
        f"sha256={DIGEST} sha256={DIGEST}",
    ],
)
def test_description_must_carry_one_digest(description: str) -> None:
    assert code_of(receipt(description=description)) == "receipt_invalid"


def test_digest_may_come_with_words() -> None:
    check_receipt(
        receipt(description=f"Đã đến sha256={DIGEST}"), document_id=DOC, packet_sha256=DIGEST
    )


def test_wrong_receiver() -> None:
    assert code_of(receipt(), receiver=G22) == "receipt_invalid"


def test_not_a_status_packet() -> None:
    assert code_of("not a receipt") == "receipt_invalid"  # type: ignore[arg-type]


def test_build_refuses_a_malformed_digest() -> None:
    with pytest.raises(EnvelopeError) as info:
        build_receipt(
            receiver=RECEIVER,
            sender=G22,
            document_id=DOC,
            code="15/BNV-VP",
            promulgation_date=None,
            packet_sha256="sha256:" + DIGEST,
            at=AT,
        )
    assert info.value.code == "invalid_field"
