"""envelopes.signature: enveloped XML-DSig, the policy, and each known signxml trap."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import warnings
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml.exceptions import InvalidCertificate
from signxml.verifier import XMLVerifier

from envelopes._canonical import BIG_TEXT, canonicalize
from envelopes.errors import EnvelopeError
from envelopes.limits import Limits
from envelopes.signature import (
    DEFAULT_SIGNATURE_POLICY,
    DS_NS,
    ENVELOPED,
    EXC_C14N,
    SignaturePolicy,
    VerifiedPacket,
    sign,
    verify,
)
from keystore.ca import Issued

if TYPE_CHECKING:
    from tests.conftest import Pki

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
HEADER = f"{{{NS}}}edXMLEnvelope/{{{NS}}}edXMLHeader"
XPATH_TRANSFORM = "http://www.w3.org/TR/1999/REC-xpath-19991116"
ALG = {
    "rsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "ecdsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "rsa-sha1": "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
    "sha1": "http://www.w3.org/2000/09/xmldsig#sha1",
}


DEFAULT_ATTACHMENT = b"PDF-1.7 attachment bytes " * 40


def unsigned_packet(attachment: bytes = DEFAULT_ATTACHMENT, *, root: str = "") -> bytes:
    """A hand-written edoc in the VNPT layout (independent of envelopes.edxml)."""
    encoded = base64.b64encode(attachment)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<edXML xmlns="{NS}"{root}>\n'
        f'  <edXML:edXMLEnvelope xmlns:edXML="{NS}">\n'
        "    <edXML:edXMLHeader>\n"
        "      <edXML:MessageHeader>\n"
        "        <edXML:From><edXML:OrganId>000.00.00.G22</edXML:OrganId>"
        "<edXML:OrganName>Văn phòng Bộ Nội vụ</edXML:OrganName></edXML:From>\n"
        "        <edXML:To><edXML:OrganId>000.00.00.H41</edXML:OrganId></edXML:To>\n"
        "        <edXML:DocumentId>000.00.00.G22,2026/12/01,15/BNV-VP</edXML:DocumentId>\n"
        "        <edXML:Subject>Về việc thử nghiệm chữ ký số</edXML:Subject>\n"
        "      </edXML:MessageHeader>\n"
        "      <edXML:TraceHeaderList>\n"
        "        <edXML:TraceHeader><edXML:OrganId>000.00.00.G22</edXML:OrganId>"
        "<edXML:Timestamp>2026/12/01 09:30:00</edXML:Timestamp></edXML:TraceHeader>\n"
        "      </edXML:TraceHeaderList>\n"
        "    </edXML:edXMLHeader>\n"
        "    <edXML:edXMLBody>\n"
        '      <edXML:edXMLManifest version="1.0">\n'
        "        <edXML:Reference><edXML:ContentId>cid:1</edXML:ContentId></edXML:Reference>\n"
        "      </edXML:edXMLManifest>\n"
        "    </edXML:edXMLBody>\n"
        "  </edXML:edXMLEnvelope>\n"
        "  <AttachmentEncoded>\n"
        "    <Attachment><ContentId>cid:1</ContentId><ContentTransferEncoded>"
        f"{encoded.decode()}</ContentTransferEncoded></Attachment>\n"
        "  </AttachmentEncoded>\n"
        "</edXML>\n"
    ).encode()


def sign_with(issued: Issued, data: bytes | None = None) -> bytes:
    return sign(
        unsigned_packet() if data is None else data,
        key=issued.key,
        certificate=issued.certificate,
        chain=issued.chain,
    )


def code_of(data: bytes, **kwargs: object) -> str:
    with pytest.raises(EnvelopeError) as info:
        verify(data, **kwargs)  # type: ignore[arg-type]
    return info.value.code


def ds(name: str) -> str:
    return f"{{{DS_NS}}}{name}"


def craft(
    data: bytes,
    issued: Issued,
    *,
    uri: str = "",
    transforms: tuple[str, ...] = (ENVELOPED, EXC_C14N.value),
    method: str = "",
    digest: str = "sha256",
    parent_path: str = HEADER,
    certificates: tuple[x509.Certificate, ...] | None = None,
) -> bytes:
    """A hand-made, cryptographically correct enveloped signature of any shape (test-only).

    It lets the policy tests show that a *valid* signature of the wrong shape is refused.
    """
    key = issued.key
    if not method:
        method = "ecdsa-sha256" if isinstance(key, ec.EllipticCurvePrivateKey) else "rsa-sha256"
    root = etree.fromstring(data)
    hash_alg: hashes.HashAlgorithm = hashes.SHA1() if digest == "sha1" else hashes.SHA256()  # noqa: S303
    h = hashes.Hash(hash_alg)
    h.update(etree.tostring(root, method="c14n", exclusive=True))
    parent = root.find(parent_path) if parent_path else root
    assert parent is not None
    sig = etree.SubElement(parent, ds("Signature"), nsmap={"ds": DS_NS})
    info = etree.SubElement(sig, ds("SignedInfo"))
    etree.SubElement(info, ds("CanonicalizationMethod"), Algorithm=EXC_C14N.value)
    etree.SubElement(info, ds("SignatureMethod"), Algorithm=ALG[method])
    ref = etree.SubElement(info, ds("Reference"), URI=uri)
    steps = etree.SubElement(ref, ds("Transforms"))
    for algorithm in transforms:
        step = etree.SubElement(steps, ds("Transform"), Algorithm=algorithm)
        if algorithm == XPATH_TRANSFORM:
            etree.SubElement(step, ds("XPath")).text = "not(ancestor-or-self::*)"
    etree.SubElement(ref, ds("DigestMethod"), Algorithm=ALG[digest])
    etree.SubElement(ref, ds("DigestValue")).text = base64.b64encode(h.finalize()).decode()
    signed_info = etree.tostring(info, method="c14n", exclusive=True)
    sig_hash: hashes.HashAlgorithm = hashes.SHA1() if method == "rsa-sha1" else hashes.SHA256()  # noqa: S303
    if isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(signed_info, padding.PKCS1v15(), sig_hash)
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        r, s = utils.decode_dss_signature(key.sign(signed_info, ec.ECDSA(sig_hash)))
        value = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    etree.SubElement(sig, ds("SignatureValue")).text = base64.b64encode(value).decode()
    x509_data = etree.SubElement(etree.SubElement(sig, ds("KeyInfo")), ds("X509Data"))
    for cert in (issued.certificate, *issued.chain) if certificates is None else certificates:
        node = etree.SubElement(x509_data, ds("X509Certificate"))
        node.text = base64.b64encode(cert.public_bytes(Encoding.DER)).decode()
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def signature_of(signed: bytes) -> etree._Element:
    found = etree.fromstring(signed).findall(f".//{ds('Signature')}")
    assert len(found) == 1
    return found[0]


def edit(signed: bytes, change: object) -> bytes:
    """Apply ``change(root)`` to a parsed copy and serialise it again."""
    root = etree.fromstring(signed)
    change(root)  # type: ignore[operator]
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


# --- sign and verify ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["valid_rsa", "valid"])
def test_sign_and_verify(pki: Pki, name: str) -> None:
    issued: Issued = getattr(pki, name)
    signed = sign_with(issued)
    result = verify(signed)
    assert isinstance(result, VerifiedPacket)
    assert result.signer_certificate == issued.certificate
    assert result.chain == issued.chain == (pki.issuing,)
    expected = "rsa-sha256" if name == "valid_rsa" else "ecdsa-sha256"
    assert result.signature_algorithm == expected
    assert result.digest_algorithm == "sha256"
    assert result.packet_sha256 == hashlib.sha256(signed).hexdigest()
    assert result.warnings == ()
    # The returned tree is the signed document without its Signature.
    assert result.root.find(f".//{ds('Signature')}") is None
    subject = result.root.find(f"{HEADER}/{{{NS}}}MessageHeader/{{{NS}}}Subject")
    assert subject is not None
    assert subject.text == "Về việc thử nghiệm chữ ký số"


def test_signature_shape(pki: Pki) -> None:
    signed = sign_with(pki.valid_rsa)
    sig = signature_of(signed)
    header = sig.getparent()
    assert header is not None
    assert header.tag == f"{{{NS}}}edXMLHeader"
    assert sig.getnext() is None
    assert [etree.QName(c).localname for c in sig] == ["SignedInfo", "SignatureValue", "KeyInfo"]
    refs = sig.findall(f"{ds('SignedInfo')}/{ds('Reference')}")
    assert len(refs) == 1
    assert refs[0].get("URI") == ""
    transforms = [t.get("Algorithm") for t in refs[0].iter(ds("Transform"))]
    assert transforms == [ENVELOPED, EXC_C14N.value]
    certs = sig.findall(f"{ds('KeyInfo')}/{ds('X509Data')}/{ds('X509Certificate')}")
    assert len(certs) == 2  # signer + issuing CA


def test_bytes_outside_the_signature_are_unchanged(pki: Pki) -> None:
    data = unsigned_packet()
    signed = sign_with(pki.valid, data)
    start = signed.index(b"<ds:Signature")
    end = signed.index(b"</ds:Signature>") + len(b"</ds:Signature>")
    indent = b"\n      "
    assert signed[start - len(indent) : start] == indent
    assert signed[: start - len(indent)] + signed[end:] == data


@pytest.mark.parametrize("name", ["valid_rsa", "valid"])
def test_hand_made_standard_signature_verifies(pki: Pki, name: str) -> None:
    """An independent construction of the agreed shape is accepted (not just our output)."""
    issued: Issued = getattr(pki, name)
    assert verify(craft(unsigned_packet(), issued)).signer_certificate == issued.certificate


# --- tampering ------------------------------------------------------------------------------


def _span(data: bytes, start_tag: bytes, end_tag: bytes) -> range:
    start = data.index(start_tag)
    return range(start, data.index(end_tag, start) + len(end_tag))


@pytest.mark.parametrize(
    "region",
    [
        (b"<edXML:MessageHeader>", b"</edXML:MessageHeader>"),
        (b"<edXML:TraceHeaderList>", b"</edXML:TraceHeaderList>"),
        (b"<ContentTransferEncoded>", b"</ContentTransferEncoded>"),
        (b"<edXML:edXMLBody>", b"</edXML:edXMLBody>"),
    ],
    ids=["header", "trace", "attachment", "manifest"],
)
def test_flipping_any_byte_breaks_verification(pki: Pki, region: tuple[bytes, bytes]) -> None:
    signed = sign_with(pki.valid)
    span = _span(signed, *region)
    positions = list(span)[:: max(1, len(span) // 150)]
    for position in positions:
        tampered = bytearray(signed)
        tampered[position] ^= 0x01
        with pytest.raises(EnvelopeError):
            verify(bytes(tampered))


@pytest.mark.parametrize(
    "tag", ["DigestValue", "SignatureValue", "SignatureMethod"], ids=lambda t: t
)
def test_tampered_signature_element_fails(pki: Pki, tag: str) -> None:
    signed = sign_with(pki.valid_rsa)
    start = signed.index(b"<ds:" + tag.encode())
    tampered = bytearray(signed)
    tampered[signed.index(b">", start) + 3] ^= 0x01
    with pytest.raises(EnvelopeError):
        verify(bytes(tampered))


def test_unsigned_comment_is_not_returned(pki: Pki) -> None:
    """Exclusive C14N does not sign comments: one added later must not split the text the
    application reads (the returned tree comes from the signed canonical bytes)."""
    signed = sign_with(pki.valid)
    tampered = signed.replace("chữ ký số".encode(), "chữ <!-- injected -->ký số".encode())
    assert tampered != signed
    result = verify(tampered)
    subject = result.root.find(f"{HEADER}/{{{NS}}}MessageHeader/{{{NS}}}Subject")
    assert subject is not None
    assert subject.text == "Về việc thử nghiệm chữ ký số"  # not cut at the comment
    assert not list(result.root.iter(etree.Comment))


# --- policy ---------------------------------------------------------------------------------


def test_missing_signature(pki: Pki) -> None:
    assert code_of(unsigned_packet()) == "signature_missing"


def test_legacy_signature_without_dsig_namespace_is_missing(pki: Pki) -> None:
    legacy = unsigned_packet().replace(
        b"</edXML:TraceHeaderList>", b"</edXML:TraceHeaderList><Signature><SignedInfo/></Signature>"
    )
    assert code_of(legacy) == "signature_missing"


def test_second_signature_is_refused(pki: Pki) -> None:
    signed = sign_with(pki.valid)

    def add_copy(root: etree._Element) -> None:
        sig = root.find(f".//{ds('Signature')}")
        assert sig is not None
        body = root.find(f"{{{NS}}}edXMLEnvelope/{{{NS}}}edXMLBody")
        assert body is not None
        body.append(etree.fromstring(etree.tostring(sig)))

    assert code_of(edit(signed, add_copy)) == "signature_policy"
    # Two correct signatures by two signers, nested: still refused.
    twice = craft(signed, pki.valid_rsa, parent_path="")
    assert code_of(twice) == "signature_policy"


@pytest.mark.parametrize(
    ("where", "path"),
    [("root", ""), ("body", f"{{{NS}}}edXMLEnvelope/{{{NS}}}edXMLBody")],
)
def test_signature_outside_the_header_is_refused(pki: Pki, where: str, path: str) -> None:
    assert code_of(craft(unsigned_packet(), pki.valid, parent_path=path)) == "signature_policy"


def test_signature_must_be_the_last_header_child(pki: Pki) -> None:
    signed = sign_with(pki.valid)

    def move_first(root: etree._Element) -> None:
        header = root.find(HEADER)
        assert header is not None
        header.insert(0, header[-1])

    assert code_of(edit(signed, move_first)) == "signature_policy"


@pytest.mark.parametrize("uri", ["#root", "#xpointer(/)", "cid:1", "http://example.invalid/a"])
def test_other_reference_uris_are_refused(pki: Pki, uri: str) -> None:
    root_with_id = unsigned_packet(root=' Id="root"')
    assert code_of(craft(root_with_id, pki.valid, uri=uri)) == "signature_policy"


def test_missing_reference_uri_is_refused(pki: Pki) -> None:
    def drop_uri(root: etree._Element) -> None:
        ref = root.find(f".//{ds('Reference')}")
        assert ref is not None
        del ref.attrib["URI"]

    assert code_of(edit(sign_with(pki.valid), drop_uri)) == "signature_policy"


@pytest.mark.parametrize(
    "transforms",
    [
        (ENVELOPED, XPATH_TRANSFORM, EXC_C14N.value),
        (ENVELOPED,),
        (EXC_C14N.value, ENVELOPED),
        (ENVELOPED, "http://www.w3.org/TR/1999/REC-xslt-19991116"),
        (ENVELOPED, "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"),
        (ENVELOPED, "http://www.w3.org/2000/09/xmldsig#base64"),
    ],
    ids=["xpath", "no_c14n", "reordered", "xslt", "inclusive_c14n", "base64"],
)
def test_other_transforms_are_refused(pki: Pki, transforms: tuple[str, ...]) -> None:
    crafted = craft(unsigned_packet(), pki.valid, transforms=transforms)
    assert code_of(crafted) == "signature_policy"


def test_second_reference_is_refused(pki: Pki) -> None:
    def add_reference(root: etree._Element) -> None:
        ref = root.find(f".//{ds('Reference')}")
        assert ref is not None
        ref.addnext(etree.fromstring(etree.tostring(ref)))

    assert code_of(edit(sign_with(pki.valid), add_reference)) == "signature_policy"


def test_sha1_only_with_the_legacy_flag(pki: Pki) -> None:
    crafted = craft(unsigned_packet(), pki.valid_rsa, method="rsa-sha1", digest="sha1")
    assert code_of(crafted) == "signature_policy"
    result = verify(crafted, policy=SignaturePolicy(allow_sha1=True))
    assert (result.signature_algorithm, result.digest_algorithm) == ("rsa-sha1", "sha1")
    mixed = craft(unsigned_packet(), pki.valid_rsa, digest="sha1")
    assert code_of(mixed) == "signature_policy"


def test_small_rsa_keys_are_refused(pki: Pki) -> None:
    weak: Issued = pki.weak_key
    with pytest.raises(EnvelopeError) as info:
        sign_with(weak)
    assert info.value.code == "signature_policy"
    crafted = craft(unsigned_packet(), weak)
    assert code_of(crafted) == "signature_policy"
    assert verify(crafted, policy=SignaturePolicy(min_rsa_bits=1024)).signer_certificate == (
        weak.certificate
    )
    assert DEFAULT_SIGNATURE_POLICY.min_rsa_bits == 2048


def test_other_ec_curves_are_refused(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    cert = pki.valid.certificate
    with pytest.raises(EnvelopeError) as info:
        sign(unsigned_packet(), key=key, certificate=cert)
    assert info.value.code == "signature_policy"


def test_key_must_match_certificate(pki: Pki) -> None:
    with pytest.raises(EnvelopeError) as info:
        sign(unsigned_packet(), key=pki.valid.key, certificate=pki.revoked.certificate)
    assert info.value.code == "signature_policy"


def test_xml_hazards_in_a_signed_packet(pki: Pki) -> None:
    signed = sign_with(pki.valid)
    with_dtd = signed.replace(b"<edXML ", b"<!DOCTYPE edXML><edXML ", 1)
    assert code_of(with_dtd) == "forbidden_xml"
    bomb = signed.replace(
        b"<edXML ",
        b'<!DOCTYPE edXML [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><edXML ',
        1,
    ).replace(b"</edXML:Subject>", b"&c;</edXML:Subject>")
    assert code_of(bomb) == "forbidden_xml"
    deep = signed.replace(b"<edXML:edXMLBody>", b"<edXML:edXMLBody>" + b"<x>" * 300 + b"</x>" * 300)
    assert code_of(deep) == "too_deep"
    assert code_of(signed, limits=Limits(max_depth=4)) == "too_deep"
    assert code_of(signed, limits=Limits(max_packet_bytes=len(signed) - 1)) == "too_large"


# --- known traps ----------------------------------------------------------------------------


def test_trap_certifi_is_never_consulted(pki: Pki) -> None:
    """signxml without ``x509_cert`` validates the KeyInfo chain against certifi; our dev
    CA is not there, so bare signxml refuses what we accept: we always pass x509_cert."""
    signed = sign_with(pki.valid)
    with warnings.catch_warnings(), pytest.raises(InvalidCertificate):
        warnings.simplefilter("ignore")  # certifi holds a certificate cryptography warns about
        XMLVerifier().verify(signed)
    assert verify(signed).signer_certificate == pki.valid.certificate


def test_trap_key_value_without_certificate_is_refused(pki: Pki) -> None:
    """Without X509Certificate signxml would take whatever key the packet offers."""

    def key_value_only(root: etree._Element) -> None:
        x509_data = root.find(f".//{ds('X509Data')}")
        assert x509_data is not None
        for cert in list(x509_data):
            x509_data.remove(cert)
        etree.SubElement(x509_data, ds("X509SubjectName")).text = "CN=anyone"

    assert code_of(edit(sign_with(pki.valid), key_value_only)) == "signature_policy"


@pytest.mark.parametrize(
    "value", ["@@not base64@@", "", "AAAA", base64.b64encode(os.urandom(300)).decode()]
)
def test_trap_any_signxml_exception_is_invalid(pki: Pki, value: str) -> None:
    def garble(root: etree._Element) -> None:
        node = root.find(f".//{ds('SignatureValue')}")
        assert node is not None
        node.text = value

    for name in ("valid", "valid_rsa"):
        assert code_of(edit(sign_with(getattr(pki, name)), garble)) == "signature_invalid"


def test_trap_garbage_certificate_is_invalid(pki: Pki) -> None:
    def garble(root: etree._Element) -> None:
        node = root.find(f".//{ds('X509Certificate')}")
        assert node is not None
        node.text = "MIIB" + "A" * 40

    assert code_of(edit(sign_with(pki.valid), garble)) in {"signature_invalid", "signature_policy"}


def test_trap_other_certificate_in_key_info_is_invalid(pki: Pki) -> None:
    crafted = craft(unsigned_packet(), pki.valid, certificates=(pki.revoked.certificate,))
    assert code_of(crafted) == "signature_invalid"


def test_trap_huge_text_node(pki: Pki) -> None:
    """12 MB in one text node: libxml2 needs huge_tree, on in our one parser."""
    data = unsigned_packet(os.urandom(9 * 1024 * 1024))
    signed = sign_with(pki.valid, data)
    assert len(signed) > 12 * 1024 * 1024
    result = verify(signed)
    attachment = result.root.find(f"{{{NS}}}AttachmentEncoded/{{{NS}}}Attachment")
    assert attachment is not None
    tampered = bytearray(signed)
    tampered[len(signed) // 2] ^= 0x01
    assert code_of(bytes(tampered)) == "signature_invalid"


def test_trap_root_id_keeps_uri_empty(pki: Pki) -> None:
    """signxml would reference "#id" for a root carrying Id; we refuse such a root when
    signing (and refuse such a reference when verifying), and keep URI="" otherwise."""
    ref = signature_of(sign_with(pki.valid)).find(f"{ds('SignedInfo')}/{ds('Reference')}")
    assert ref is not None
    assert ref.get("URI") == ""
    with pytest.raises(EnvelopeError) as info:
        sign_with(pki.valid, unsigned_packet(root=' Id="packet-1"'))
    assert info.value.code == "signature_policy"


def test_trap_already_signed_packet_is_not_signed_again(pki: Pki) -> None:
    with pytest.raises(EnvelopeError) as info:
        sign_with(pki.valid_rsa, sign_with(pki.valid))
    assert info.value.code == "signature_policy"


def test_lenient_verify_of_vnpt_style_junk(pki: Pki) -> None:
    signed = sign_with(pki.valid)
    junky = b"1212" + signed
    assert code_of(junky) == "malformed_xml"
    result = verify(junky, lenient=True)
    assert result.warnings
    assert result.packet_sha256 == hashlib.sha256(junky).hexdigest()


@pytest.fixture(scope="module")
def small_signed(pki: Pki) -> bytes:
    return sign_with(pki.valid, unsigned_packet(b"x" * 30))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutations_return_or_raise_envelope_error(small_signed: bytes, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(small_signed) - 1))
    value = data.draw(st.integers(min_value=0, max_value=255))
    mutated = bytearray(small_signed)
    mutated[position] = value
    with contextlib.suppress(EnvelopeError):
        result = verify(bytes(mutated))
        # If it still verifies, the byte was outside what the signature covers.
        assert result.root.tag == f"{{{NS}}}edXML"


# --- streamed canonicalisation (envelopes._canonical) ----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "QUJD" * (BIG_TEXT // 4 + 10),
        ("a&b<c>d\r" * (BIG_TEXT // 8 + 3)) + "Tiếng Việt",
        "docnode-c14n-marker-0-of-1 " * (BIG_TEXT // 20),
    ],
    ids=["base64", "escaped", "marker_collision"],
)
def test_streamed_c14n_equals_lxml(text: str) -> None:
    root = etree.fromstring(unsigned_packet(b"x"))
    node = root.find(f"{{{NS}}}AttachmentEncoded/{{{NS}}}Attachment/{{{NS}}}ContentTransferEncoded")
    assert node is not None
    node.text = text
    expected = etree.tostring(root, method="c14n", exclusive=True)
    chunks: list[bytes] = []
    canonicalize(root, write=chunks.append)
    assert b"".join(chunks) == expected
    assert node.text == text  # restored
    chunks.clear()
    canonicalize(root, write=chunks.append, restore=False)
    assert b"".join(chunks) == expected


def test_big_attachment_with_markup_characters_signs_and_verifies(pki: Pki) -> None:
    data = unsigned_packet(b"x").replace(
        b"eA==</ContentTransferEncoded>",
        ("a&amp;b&lt;c&gt;d&#13;" * (BIG_TEXT // 7)).encode() + b"</ContentTransferEncoded>",
    )
    signed = sign_with(pki.valid, data)
    result = verify(signed)
    node = result.root.find(
        f"{{{NS}}}AttachmentEncoded/{{{NS}}}Attachment/{{{NS}}}ContentTransferEncoded"
    )
    assert node is not None
    assert (node.text or "").startswith("a&b<c>d\r")


# --- the profile as written (envelopes._xmldsig) --------------------------------------------


@pytest.mark.parametrize("name", ["valid_rsa", "valid"])
def test_signature_is_written_in_canonical_form(pki: Pki, name: str) -> None:
    """What we sign is SignedInfo's exclusive C14N as any verifier computes it in place, and
    the Signature bytes in the packet are already canonical (so nothing is re-serialised)."""
    issued: Issued = getattr(pki, name)
    signed = sign_with(issued)
    sig = signature_of(signed)
    info = sig.find(ds("SignedInfo"))
    assert info is not None
    c14n_info = etree.tostring(info, method="c14n", exclusive=True, with_comments=False)
    value = base64.b64decode(sig.findtext(ds("SignatureValue")) or "")
    public = issued.certificate.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(value, c14n_info, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        assert len(value) == 64  # XML-DSig r || s, not DER
        der = utils.encode_dss_signature(
            int.from_bytes(value[:32], "big"), int.from_bytes(value[32:], "big")
        )
        public.verify(der, c14n_info, ec.ECDSA(hashes.SHA256()))
    start = signed.index(b"<ds:Signature")
    end = signed.index(b"</ds:Signature>") + len(b"</ds:Signature>")
    assert signed[start:end] == etree.tostring(sig, method="c14n", exclusive=True)


@pytest.mark.parametrize("name", ["valid_rsa", "valid"])
def test_what_we_sign_verifies_with_bare_signxml(pki: Pki, name: str) -> None:
    """A second independent verifier (besides xmlsec1): signxml with the signer certificate."""
    issued: Issued = getattr(pki, name)
    signed = sign_with(issued)
    result = XMLVerifier().verify(signed, x509_cert=issued.certificate)
    assert not isinstance(result, list)
    assert result.signed_xml is not None
    ours = verify(signed).root
    assert etree.tostring(result.signed_xml, method="c14n") == etree.tostring(ours, method="c14n")


def test_signature_value_with_a_child_is_invalid(pki: Pki) -> None:
    def split(root: etree._Element) -> None:
        node = root.find(f".//{ds('SignatureValue')}")
        assert node is not None and node.text
        head, tail = node.text[:20], node.text[20:]
        node.text = head
        child = etree.SubElement(node, ds("Object"))
        child.tail = tail

    for name in ("valid", "valid_rsa"):
        assert code_of(edit(sign_with(getattr(pki, name)), split)) == "signature_invalid"


def test_digest_value_with_an_element_inside_is_refused(pki: Pki) -> None:
    def wrap(root: etree._Element) -> None:
        node = root.find(f".//{ds('DigestValue')}")
        assert node is not None
        etree.SubElement(node, ds("Object")).text = "x"

    assert code_of(edit(sign_with(pki.valid), wrap)) == "signature_invalid"


def test_signature_value_with_line_breaks_verifies(pki: Pki) -> None:
    """Other signers (xmlsec1, .NET) wrap base64 at 64 or 76 characters."""

    def wrap(root: etree._Element) -> None:
        node = root.find(f".//{ds('SignatureValue')}")
        assert node is not None and node.text
        node.text = "\n" + "\n".join(node.text[i : i + 64] for i in range(0, len(node.text), 64))

    wrapped = edit(sign_with(pki.valid_rsa), wrap)
    assert verify(wrapped).signer_certificate == pki.valid_rsa.certificate


def test_valid_signature_over_a_wrong_digest_is_invalid(pki: Pki) -> None:
    """SignedInfo correctly signed, but its DigestValue is not the document's."""
    other = unsigned_packet(b"another attachment")
    crafted = craft(other, pki.valid)
    body = crafted.split(b"<AttachmentEncoded>")[0]
    original = unsigned_packet().split(b"<AttachmentEncoded>")[1]
    assert code_of(body + b"<AttachmentEncoded>" + original) == "signature_invalid"


def test_comments_inside_signed_info_change_nothing(pki: Pki) -> None:
    """C14N drops comments: SignedInfo with comments between (and inside) its elements is the
    SignedInfo that was signed."""

    def comment(root: etree._Element) -> None:
        info = root.find(f".//{ds('SignedInfo')}")
        assert info is not None
        info.insert(1, etree.Comment("between"))
        value = info.find(f"{ds('Reference')}/{ds('DigestValue')}")
        assert value is not None and value.text
        head, tail = value.text[:5], value.text[5:]
        value.text = head
        inside = etree.Comment("inside")
        inside.tail = tail
        value.append(inside)

    commented = edit(sign_with(pki.valid), comment)
    assert verify(commented).signer_certificate == pki.valid.certificate
