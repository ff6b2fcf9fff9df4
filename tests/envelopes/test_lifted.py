"""envelopes._lifted: big attachment texts signed and verified from the packet's bytes.

Every case compares with lxml's C14N of the whole parsed packet (what the texts would be
without lifting) and with an independent verifier (signxml); the cases where lifting must
not apply check that sign/verify still give the right answer through the full parse.
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.verifier import XMLVerifier

from envelopes._canonical import BIG_TEXT
from envelopes._lifted import lift, pieces, tree_of
from envelopes.errors import EnvelopeError
from envelopes.parser import make_parser, parse
from envelopes.signature import DS_NS, ENVELOPED, EXC_C14N, sign, verify
from tests.envelopes.test_signature import NS, sign_with, unsigned_packet

if TYPE_CHECKING:
    from keystore.ca import Issued
    from tests.conftest import Pki

BIG = os.urandom(BIG_TEXT)  # base64 of it: 4/3 BIG_TEXT characters, over the threshold


def c14n_of(data: bytes) -> bytes:
    root = etree.fromstring(data, make_parser())
    return etree.tostring(root, method="c14n", exclusive=True, with_comments=False)


def lifted_c14n(data: bytes) -> bytes | None:
    lifted = lift(data, max_texts=10)
    if lifted is None:
        return None
    parts = pieces(parse(lifted.small).root, data, lifted)
    return None if parts is None else b"".join(parts)


def bare_signxml(signed: bytes, issued: Issued) -> None:
    huge = etree.XMLParser(huge_tree=True, resolve_entities=False)
    XMLVerifier().verify(signed, x509_cert=issued.certificate, parser=huge)


def wrapped(payload: bytes, width: int = 76, newline: str = "\n") -> bytes:
    text = base64.b64encode(payload).decode()
    lines = [text[i : i + width] for i in range(0, len(text), width)]
    return unsigned_packet(b"x").replace(
        b"eA==</ContentTransferEncoded>",
        (newline + newline.join(lines) + newline).encode() + b"</ContentTransferEncoded>",
    )


@pytest.mark.parametrize(
    "data",
    [unsigned_packet(BIG), wrapped(BIG), wrapped(BIG, 64, "\n\t")],
    ids=["one_line", "wrapped_76", "wrapped_tabs"],
)
def test_lifted_c14n_is_the_whole_packets_c14n(data: bytes) -> None:
    lifted = lift(data, max_texts=10)
    assert lifted is not None
    assert len(lifted.small) < 5_000
    assert lifted_c14n(data) == c14n_of(data)
    parts = pieces(parse(lifted.small).root, data, lifted)
    assert parts is not None
    assert etree.tostring(tree_of(parts), method="c14n") == c14n_of(data)


@pytest.mark.parametrize("name", ["valid", "valid_rsa"])
def test_big_packets_sign_and_verify_as_the_whole_tree_would(pki: Pki, name: str) -> None:
    issued: Issued = getattr(pki, name)
    data = wrapped(BIG)
    signed = sign_with(issued, data)
    bare_signxml(signed, issued)  # an independent C14N of the whole document agrees
    result = verify(signed)
    assert result.signer_certificate == issued.certificate
    node = result.root.find(f"{{{NS}}}AttachmentEncoded/{{{NS}}}Attachment")
    assert node is not None
    text = node.findtext(f"{{{NS}}}ContentTransferEncoded") or ""
    assert base64.b64decode(text) == BIG
    for position in (signed.index(b"<ContentTransferEncoded>") + 30, len(signed) - 200):
        tampered = bytearray(signed)
        tampered[position] = ord("A") if tampered[position] != ord("A") else ord("B")
        with pytest.raises(EnvelopeError) as info:
            verify(bytes(tampered))
        assert info.value.code == "signature_invalid"


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("cr_in_text", wrapped(BIG, 76, "\r\n")),
        (
            "in_a_comment",
            unsigned_packet(b"x").replace(
                b"</AttachmentEncoded>",
                b"<!-- <ContentTransferEncoded>" + base64.b64encode(BIG) + b"<x -->"
                b"</AttachmentEncoded>",
            ),
        ),
        (
            "a_tail",
            unsigned_packet(b"x").replace(
                b"</Attachment>",
                b"</Attachment><ContentTransferEncoded/>" + base64.b64encode(BIG),
            ),
        ),
        (
            "holds_a_marker",
            unsigned_packet(BIG).replace("thử nghiệm".encode(), b"docnode-lifted-text-0-of-1"),
        ),
    ],
)
def test_texts_that_cannot_be_lifted_go_through_the_full_parse(
    pki: Pki, label: str, data: bytes
) -> None:
    assert lifted_c14n(data) is None, label
    signed = sign_with(pki.valid, data)
    bare_signxml(signed, pki.valid)
    assert verify(signed).signer_certificate == pki.valid.certificate


def test_a_big_text_inside_signed_info_is_verified_from_the_full_tree(pki: Pki) -> None:
    """Lifting would change the SignedInfo that was signed: verification must not use it."""
    data = unsigned_packet(BIG)
    root = etree.fromstring(data, make_parser())
    digest = hashlib.sha256(c14n_of(data)).digest()
    header = root.find(f"{{{NS}}}edXMLEnvelope/{{{NS}}}edXMLHeader")
    assert header is not None
    ds = f"{{{DS_NS}}}"
    sig = etree.SubElement(header, ds + "Signature", nsmap={"ds": DS_NS})
    info = etree.SubElement(sig, ds + "SignedInfo")
    etree.SubElement(info, ds + "CanonicalizationMethod", Algorithm=EXC_C14N.value)
    method = etree.SubElement(
        info,
        ds + "SignatureMethod",
        Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    )
    etree.SubElement(method, "ContentTransferEncoded").text = base64.b64encode(BIG).decode()
    ref = etree.SubElement(info, ds + "Reference", URI="")
    steps = etree.SubElement(ref, ds + "Transforms")
    for algorithm in (ENVELOPED, EXC_C14N.value):
        etree.SubElement(steps, ds + "Transform", Algorithm=algorithm)
    etree.SubElement(ref, ds + "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    etree.SubElement(ref, ds + "DigestValue").text = base64.b64encode(digest).decode()
    to_sign = etree.tostring(info, method="c14n", exclusive=True, with_comments=False)
    key = pki.valid.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    r, s = utils.decode_dss_signature(key.sign(to_sign, ec.ECDSA(hashes.SHA256())))
    value = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    etree.SubElement(sig, ds + "SignatureValue").text = base64.b64encode(value).decode()
    x509_data = etree.SubElement(etree.SubElement(sig, ds + "KeyInfo"), ds + "X509Data")
    der = base64.b64encode(pki.valid.certificate.public_bytes(Encoding.DER)).decode()
    etree.SubElement(x509_data, ds + "X509Certificate").text = der
    signed = etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    assert verify(signed).signer_certificate == pki.valid.certificate


def test_errors_after_a_big_text_name_the_line_in_the_packet(pki: Pki) -> None:
    signed = sign_with(pki.valid, wrapped(BIG))
    broken = signed.replace(b"</AttachmentEncoded>", b"</AttachmentEncoded><oops>")
    with pytest.raises(EnvelopeError) as info:
        verify(broken)
    assert info.value.code == "malformed_xml"
    line = broken[: broken.index(b"<oops>")].count(b"\n") + 1
    assert info.value.line is not None
    assert info.value.line >= line


def test_lenient_junk_before_a_big_packet(pki: Pki) -> None:
    signed = sign_with(pki.valid, unsigned_packet(BIG))
    result = verify(b"1212" + signed, lenient=True)
    assert result.warnings
    assert result.packet_sha256 == hashlib.sha256(b"1212" + signed).hexdigest()


def test_too_many_candidates_are_not_searched() -> None:
    data = unsigned_packet(BIG).replace(
        b"</AttachmentEncoded>", b"<ContentTransferEncoded/>" * 30 + b"</AttachmentEncoded>"
    )
    assert lift(data, max_texts=10) is None
    assert lift(data, max_texts=100) is not None


def test_what_sign_returns_for_a_big_packet_is_the_unsigned_bytes_plus_the_signature(
    pki: Pki,
) -> None:
    data = unsigned_packet(BIG)
    signed = sign(data, key=pki.valid.key, certificate=pki.valid.certificate)
    start = signed.index(b"<ds:Signature")
    end = signed.index(b"</ds:Signature>") + len(b"</ds:Signature>")
    indent = b"\n      "
    assert signed[: start - len(indent)] + signed[end:] == data
