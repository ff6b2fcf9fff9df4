"""envelopes.packet and envelopes.offload: model → signed bytes → verified model."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives import serialization

from envelopes.edxml import AttachmentEncoding, assign_content_ids, encode_edoc
from envelopes.errors import EnvelopeError
from envelopes.model import (
    VN_TZ,
    Attachment,
    Code,
    DocumentType,
    Edoc,
    OrganId,
    Organization,
    PromulgationInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusMessage,
    TraceHeader,
)
from envelopes.offload import (
    OpenedFacts,
    open_packet_job,
    pack_edoc_job,
    pack_status_job,
    sign_job,
    verify_job,
)
from envelopes.packet import OpenedPacket, open_packet, pack_edoc, pack_status
from keystore.ca import Issued, pem

if TYPE_CHECKING:
    from tests.conftest import Pki

G22, H41 = OrganId("000.00.00.G22"), OrganId("000.00.00.H41")
PDF = "%PDF-1.4 văn bản điện tử\n".encode() * 200


def an_edoc(*attachments: Attachment) -> Edoc:
    return Edoc(
        from_=Organization(G22, organ_name="Văn phòng Bộ Nội vụ"),
        to=(Organization(H41, organ_name="Sở Nội vụ Hà Nội"),),
        document_id="000.00.00.G22,2026/12/01,15/BNV-VP",
        code=Code("15", "BNV-VP"),
        promulgation_info=PromulgationInfo("Hà Nội", date(2026, 12, 1)),
        document_type=DocumentType(1, 0, "Công văn"),
        subject="Về việc thử nghiệm liên thông",
        content="Nội dung",
        signer_info=SignerInfo(full_name="Nguyễn Văn A"),
        trace_headers=(TraceHeader(G22, datetime(2026, 12, 1, 2, 30, tzinfo=UTC)),),
        attachments=attachments or (Attachment("cong-van.pdf", PDF, "application/pdf"),),
    )


def a_status() -> StatusMessage:
    return StatusMessage(
        from_=Organization(H41, organ_name="Sở Nội vụ Hà Nội"),
        response_for=ResponseFor(G22, "15/BNV-VP", date(2026, 12, 1), "doc-15"),
        staff_info=StaffInfo("Văn thư", "Trần Thị B"),
        status_code=StatusCode.ACCEPTED,
        description="Đã vào sổ",
        timestamp=datetime(2026, 12, 1, 10, 0, tzinfo=VN_TZ),
    )


def pack(issued: Issued, edoc: Edoc | None = None, **kwargs: object) -> bytes:
    return pack_edoc(
        an_edoc() if edoc is None else edoc,
        key=issued.key,
        certificate=issued.certificate,
        chain=issued.chain,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("name", ["valid", "valid_rsa"])
@pytest.mark.parametrize("encoding", list(AttachmentEncoding))
def test_edoc_round_trip(pki: Pki, name: str, encoding: AttachmentEncoding) -> None:
    issued: Issued = getattr(pki, name)
    edoc = an_edoc()
    signed = pack(issued, edoc, encoding=encoding)
    opened = open_packet(signed)
    assert isinstance(opened, OpenedPacket)
    assert opened.packet == assign_content_ids(edoc)
    assert opened.verified.signer_certificate == issued.certificate
    assert opened.verified.chain == issued.chain
    assert opened.warnings == ()


def test_status_round_trip(pki: Pki) -> None:
    status = a_status()
    signed = pack_status(
        status, key=pki.valid.key, certificate=pki.valid.certificate, chain=pki.valid.chain
    )
    opened = open_packet(signed)
    assert opened.packet == status
    assert opened.verified.digest_algorithm == "sha256"


def test_signed_packet_keeps_the_encoder_bytes(pki: Pki) -> None:
    edoc = an_edoc()
    unsigned = encode_edoc(edoc)
    signed = pack(pki.valid, edoc)
    start, end = signed.index(b"<ds:Signature"), signed.index(b"</ds:Signature>") + 15
    indent = signed[signed.rindex(b"\n", 0, start) : start]
    assert signed[: start - len(indent)] + signed[end:] == unsigned


def test_unsigned_packet_is_refused(pki: Pki) -> None:
    with pytest.raises(EnvelopeError) as info:
        open_packet(encode_edoc(an_edoc()))
    assert info.value.code == "signature_missing"


def test_tampered_attachment_is_refused(pki: Pki) -> None:
    signed = pack(pki.valid, encoding=AttachmentEncoding.RAW)
    tag = signed.index(b"<edXML:ContentTransferEncoded")
    start = signed.index(b">", tag) + 40  # well inside the base64 text
    tampered = signed[:start] + (b"A" if signed[start : start + 1] != b"A" else b"B")
    tampered += signed[start + 1 :]
    with pytest.raises(EnvelopeError) as info:
        open_packet(tampered)
    assert info.value.code == "signature_invalid"


def test_only_signed_content_reaches_the_model(pki: Pki) -> None:
    signed = pack(pki.valid)
    injected = signed.replace("thử nghiệm".encode(), "thử <!-- not signed -->nghiệm".encode(), 1)
    assert injected != signed
    opened = open_packet(injected)
    assert isinstance(opened.packet, Edoc)
    assert opened.packet.subject == "Về việc thử nghiệm liên thông"


def test_signed_but_schema_invalid_packet_is_refused(pki: Pki) -> None:
    from envelopes.signature import sign

    bogus = encode_edoc(an_edoc()).replace(
        b"<edXML:Type>1</edXML:Type>", b"<edXML:Type>one</edXML:Type>"
    )
    signed = sign(bogus, key=pki.valid.key, certificate=pki.valid.certificate)
    with pytest.raises(EnvelopeError) as info:
        open_packet(signed)
    assert info.value.code == "schema_invalid"


# --- offload ---------------------------------------------------------------------------------


def pem_identity(issued: Issued, passphrase: bytes | None = None) -> dict[str, Any]:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return {
        "key_pem": issued.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        ),
        "certificate_pem": pem(issued.certificate),
        "chain_pem": b"".join(pem(c) for c in issued.chain),
        "passphrase": passphrase,
    }


def test_offload_jobs_in_a_process_pool(pki: Pki) -> None:
    identity = pem_identity(pki.valid_rsa, b"s3cret")
    edoc, status = an_edoc(), a_status()
    with ProcessPoolExecutor(max_workers=2) as pool:
        signed = pool.submit(pack_edoc_job, edoc, **identity).result()
        signed_status = pool.submit(pack_status_job, status, **identity).result()
        unsigned = encode_edoc(edoc)
        resigned = pool.submit(sign_job, unsigned, **identity).result()
        opened = pool.submit(open_packet_job, signed).result()
        facts = pool.submit(verify_job, resigned).result()
        opened_status = pool.submit(open_packet_job, signed_status).result()
        failure = pool.submit(open_packet_job, unsigned)
        with pytest.raises(EnvelopeError) as info:
            failure.result()
    assert info.value.code == "signature_missing"
    assert isinstance(opened, OpenedFacts)
    assert opened.packet == assign_content_ids(edoc)
    assert opened.verified.signer_certificate == pki.valid_rsa.certificate
    assert opened.verified.chain == pki.valid_rsa.chain
    assert opened.verified.signature_algorithm == "rsa-sha256"
    assert opened_status.packet == status
    assert facts.signer_certificate == pki.valid_rsa.certificate
    assert signed == resigned  # RSA PKCS#1 v1.5 is deterministic; so is the encoder
    assert pickle.loads(pickle.dumps(opened)) == opened  # noqa: S301 - our own object


def test_offload_bad_key_never_shows_the_key(pki: Pki) -> None:
    identity = pem_identity(pki.valid, b"right")
    identity["passphrase"] = b"wrong"
    with pytest.raises(EnvelopeError) as info:
        pack_edoc_job(an_edoc(), **identity)
    assert info.value.code == "signature_policy"
    assert "wrong" not in str(info.value)
    assert "PRIVATE" not in str(info.value)
