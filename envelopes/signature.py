"""Enveloped XML-DSig over a whole edXML packet (spec/edxml.md §2.3.5, DESIGN §7-8).

Rules (what :func:`sign` produces, and the only thing :func:`verify` accepts):

1. Exactly one ``ds:Signature`` in the whole document, the last child of
   ``edXML/edXMLEnvelope/edXMLHeader``; its children are SignedInfo, SignatureValue, KeyInfo.
2. One ``ds:Reference`` with ``URI=""`` (the whole document) and exactly the transforms
   [enveloped-signature, exclusive C14N]; SignedInfo is canonicalised with exclusive C14N.
3. RSA-SHA256 with a key of at least ``policy.min_rsa_bits``, or ECDSA-P256-SHA256; digest
   SHA-256. SHA-1 (rsa-sha1, sha1) only when ``policy.allow_sha1`` (legacy input) is set.
4. ``KeyInfo/X509Data`` carries the signer certificate and the intermediates. The signature is
   checked against the key of the first KeyInfo certificate (as we, xmlsec1 and .NET write
   it), never against a bare KeyValue and never with a trust store of its own (no certifi
   fallback is possible: no certificate path is built here). Whether that certificate
   deserves trust is ``keystore``'s question, not this module's.
5. Values are read strictly (:mod:`envelopes._shape`): base64 only (whitespace allowed), no
   child nodes in SignatureValue, DigestValue read as C14N writes it (what was signed: its
   text without comments); any failure of a check is :class:`SignatureInvalid`.
6. :func:`verify` returns only what the signature covers: the tree parsed (with our parser)
   from the very canonical bytes whose digest matched, without the Signature.

Implementation (issue 3): the profile is written and checked by :mod:`envelopes._xmldsig`
with ``cryptography`` and lxml's C14N directly (signxml's Python-heavy signer and verifier
cost more than the RSA operation on a small packet). The document is parsed once, hashed as it
is canonicalised (:mod:`envelopes._canonical`), and :func:`sign` splices the Signature into the
bytes it was given instead of serialising the packet again. Attachment texts of a MiB or more
are not parsed at all when they are plain base64 (:mod:`envelopes._lifted`): the rest of the
packet is parsed and checked, the texts are hashed from the packet's bytes, and the signed
tree is fed from the same pieces; any packet where that does not hold exactly goes through
the whole parse instead. A 50 MB packet thus costs about twice its size in memory, not four.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from ._canonical import BIG_TEXT, canonicalize
from ._lifted import Lifted, lift, pieces, tree_of
from ._shape import Shape, check_shape, find_signature
from ._xmldsig import (
    DS_NS,
    ENVELOPED,
    EXC_C14N,
    DigestMethod,
    PrivateKey,
    SignatureMethod,
    check_value,
    key_info,
    sign_value,
    signature_element,
    signed_info,
)
from .errors import EnvelopeError, NotEdxml, SignatureInvalid, SignaturePolicyViolation
from .limits import DEFAULT_LIMITS, Limits
from .parser import EDXML_NS, ParsedXml, parse, thread_parser

__all__ = [
    "DEFAULT_SIGNATURE_POLICY",
    "DS_NS",
    "ENVELOPED",
    "EXC_C14N",
    "PrivateKey",
    "SignaturePolicy",
    "VerifiedPacket",
    "enveloped_signature",
    "sign",
    "verify",
]

_ENVELOPE, _HEADER = f"{{{EDXML_NS}}}edXMLEnvelope", f"{{{EDXML_NS}}}edXMLHeader"


@dataclass(frozen=True, slots=True)
class SignaturePolicy:
    """Which well-formed signatures :func:`verify` accepts (module rules 2-3)."""

    allow_sha1: bool = False
    """Accept rsa-sha1 / sha1 (legacy VNPT traffic only; visible at the call site)."""
    min_rsa_bits: int = 2048
    """Smallest RSA modulus accepted for the signer key."""

    def __post_init__(self) -> None:
        if self.min_rsa_bits < 1024:
            raise ValueError("SignaturePolicy.min_rsa_bits below 1024 is never acceptable")


DEFAULT_SIGNATURE_POLICY = SignaturePolicy()
"""SHA-256 only, RSA keys of 2048 bits or more."""


@dataclass(frozen=True)
class VerifiedPacket:
    """What a valid signature covers, and by which certificate (trust not yet checked)."""

    root: etree._Element
    """The signed document only, parsed from the digested canonical bytes, Signature
    removed (comments and anything else the signature does not cover are gone)."""
    signer_certificate: x509.Certificate
    """The KeyInfo certificate whose key verified the signature."""
    chain: tuple[x509.Certificate, ...]
    """The other KeyInfo certificates, in the order sent (without the signer)."""
    signature_algorithm: str
    """Fragment of the SignatureMethod URI: ``rsa-sha256``, ``ecdsa-sha256`` (``rsa-sha1``)."""
    digest_algorithm: str
    """Fragment of the DigestMethod URI: ``sha256`` (``sha1``)."""
    packet_sha256: str
    """Hex SHA-256 of the exact bytes given to :func:`verify` (receipts quote it)."""
    warnings: tuple[str, ...] = ()
    """Lenient-mode parser repairs, as data."""


# --- signing --------------------------------------------------------------------------------


def sign(
    data: bytes,
    *,
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """Return ``data`` with an enveloped signature as the last child of ``edXMLHeader``.

    ``data`` is an unsigned packet: no Signature anywhere and no ``Id`` on the root (some
    signers would then reference ``#id``, which other verifiers reject). Bytes outside the
    Signature element stay exactly as given. Raises an :class:`EnvelopeError` subclass.
    """
    method = _signature_method_for(key, certificate)
    lifted = _lift(data, limits)
    parsed = None if lifted is None else _parse_small(lifted, limits, lenient=False)
    if lifted is not None and parsed is not None:
        # The packet without its big texts (envelopes._lifted): they are hashed from ``data``.
        header = _find_header(parsed.root)
        _check_unsigned(parsed.root)
        splice = _plan_splice(header, data)
        canonical = None if splice is None else pieces(parsed.root, data, lifted)
        if splice is not None and canonical is not None:
            hasher = hashlib.sha256()
            for part in canonical:
                hasher.update(part)
            signature_xml = _signature(method, hasher.digest(), key, (certificate, *chain))
            return _spliced(data, splice, signature_xml)
    root = parse(data, limits=limits).root
    header = _find_header(root)
    _check_unsigned(root)
    # Where the Signature goes; the tree now reads as the enveloped transform will see it.
    splice = _plan_splice(header, data)
    hasher = hashlib.sha256()
    # With a splice the tree is not serialised, so attachment texts need not go back in.
    canonicalize(root, write=hasher.update, restore=splice is None, big_texts=len(data) >= BIG_TEXT)
    signature_xml = _signature(method, hasher.digest(), key, (certificate, *chain))
    if splice is None:  # no safe place to splice: serialise the one tree
        header.append(etree.fromstring(signature_xml, parser=thread_parser()))
        return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    root.clear()  # the big tree is done with: free it before the output is built
    return _spliced(data, splice, signature_xml)


def _spliced(data: bytes, splice: tuple[int, bytes], signature_xml: bytes) -> bytes:
    offset, before = splice
    view = memoryview(data)
    return b"".join((view[:offset], before, signature_xml, view[offset:]))


def enveloped_signature(
    digest: bytes,
    *,
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
) -> bytes:
    """The canonical ``ds:Signature`` for a document whose exclusive C14N, as the
    enveloped-signature transform sees it, has the SHA-256 ``digest`` (what :func:`sign`
    inserts; for callers that computed the digest while building the packet)."""
    method = _signature_method_for(key, certificate)
    return _signature(method, digest, key, (certificate, *chain))


def _signature(
    method: SignatureMethod,
    digest: bytes,
    key: PrivateKey,
    certificates: tuple[x509.Certificate, ...],
) -> bytes:
    to_sign, inner = signed_info(method, digest)
    try:
        value = sign_value(key, method, to_sign)
    except SignaturePolicyViolation:
        raise
    except Exception as exc:  # cryptography refusing the key
        raise SignaturePolicyViolation(f"cannot sign: {exc}") from exc
    return signature_element(inner, value, key_info(certificates))


def _signature_method_for(key: PrivateKey, certificate: x509.Certificate) -> SignatureMethod:
    public = certificate.public_key()
    if isinstance(key, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey):
        if key.key_size < DEFAULT_SIGNATURE_POLICY.min_rsa_bits:
            raise SignaturePolicyViolation(f"RSA key of {key.key_size} bits is too small")
        method = SignatureMethod.RSA_SHA256
    elif isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(
        public, ec.EllipticCurvePublicKey
    ):
        if not isinstance(key.curve, ec.SECP256R1):
            raise SignaturePolicyViolation(f"EC curve {key.curve.name} is not P-256")
        method = SignatureMethod.ECDSA_SHA256
    else:
        raise SignaturePolicyViolation("the key is neither RSA nor EC, or differs from the cert")
    if key.public_key() != public:
        raise SignaturePolicyViolation("the private key does not belong to the certificate")
    return method


def _find_header(root: etree._Element) -> etree._Element:
    if root.tag != f"{{{EDXML_NS}}}edXML":
        raise NotEdxml(f"root element is {root.tag}, expected edXML in {EDXML_NS}")
    # root.find("edXMLEnvelope/edXMLHeader") without ElementPath's Python machinery
    for envelope in root.iterchildren(_ENVELOPE):
        header = next(envelope.iterchildren(_HEADER), None)
        if header is not None:
            return header
    raise NotEdxml("no edXMLEnvelope/edXMLHeader to carry the signature")


def _check_unsigned(root: etree._Element) -> None:
    if next(root.iter(f"{{{DS_NS}}}Signature", f"{{{EDXML_NS}}}Signature"), None) is not None:
        raise SignaturePolicyViolation("the packet already carries a Signature element")
    for name in ("Id", "ID", "id"):
        if root.get(name) is not None:
            raise SignaturePolicyViolation(
                f"the root element has an {name} attribute; signxml would reference "
                f'"#{root.get(name)}" instead of the whole document (URI="")',
                element="edXML",
            )


def _plan_splice(header: etree._Element, data: bytes) -> tuple[int, bytes] | None:
    """Where the Signature's bytes go in ``data``: (offset, before) such that inserting
    ``before + <Signature>`` at ``offset`` yields the signed packet, or None when the header's
    end tag cannot be located safely (the caller then appends to the tree and serialises).

    On a VNPT-indented header the Signature goes on its own line: ``indent`` (the header's
    own first indentation) before it, the old tail after it. The enveloped transform removes
    the Signature and joins the text around it, so the last child's tail then reads
    ``indent + tail``; the tree is changed to read so, as the digest must see it.
    """
    end = _header_end_offset(data, header)
    if end is None:
        return None
    last = header[-1] if len(header) else None
    tail, indent = (last.tail if last is not None else None), header.text
    if last is not None and tail and indent and not tail.strip() and not indent.strip():
        encoded = tail.encode()
        if data[end - len(encoded) : end] == encoded:
            # ...</TraceHeaderList>{indent}<ds:Signature>...</ds:Signature>{tail}</...Header>
            last.tail = indent + tail
            return end - len(encoded), indent.encode()
    return end, b""


def _header_end_offset(data: bytes, header: etree._Element) -> int | None:
    """Offset of the ``</…edXMLHeader>`` end tag in ``data``, skipping look-alikes inside
    comments, CDATA sections and processing instructions; None if there is none."""
    name = f"{header.prefix}:edXMLHeader" if header.prefix else "edXMLHeader"
    end_tag = f"</{name}".encode()
    hidden = ((b"<!--", b"-->"), (b"<![CDATA[", b"]]>"), (b"<?", b"?>"))
    start = 0
    while (pos := data.find(end_tag, start)) >= 0:
        scan, inside = start, False
        while True:
            opens = [(i, o, c) for o, c in hidden if (i := data.find(o, scan, pos)) >= 0]
            if not opens:
                break
            i, opener, closer = min(opens)
            close = data.find(closer, i + len(opener))
            if close < 0:
                return None
            scan = close + len(closer)
            if scan > pos:  # the match is inside this construct: look past it
                inside, start = True, scan
                break
        if not inside:
            after = pos + len(end_tag)
            if data[after : after + 1] in (b">", b" ", b"\t", b"\r", b"\n"):
                return pos
            start = pos + 1
    return None


# --- verification ---------------------------------------------------------------------------


def verify(
    data: bytes,
    *,
    policy: SignaturePolicy = DEFAULT_SIGNATURE_POLICY,
    limits: Limits = DEFAULT_LIMITS,
    lenient: bool = False,
) -> VerifiedPacket:
    """Verify the packet's enveloped signature under ``policy`` (module rules 1-6).

    Raises :class:`SignatureMissing`, :class:`SignatureInvalid`,
    :class:`SignaturePolicyViolation`, :class:`NotEdxml` or a parser error.
    """
    packet_sha256 = hashlib.sha256(data).hexdigest()
    lifted = _lift(data, limits)
    parsed = None if lifted is None else _parse_small(lifted, limits, lenient)
    if lifted is not None and parsed is not None:
        # The packet without its big texts (envelopes._lifted): same structure and checks.
        signature, shape, signed_info_c14n = _checked(parsed.root, policy)
        if not any(m.encode() in signed_info_c14n for m in lifted.markers):
            check_value(
                shape.signer_key, shape.signature_method, shape.signature_value, signed_info_c14n
            )
            _detach(signature)
            canonical = pieces(parsed.root, data, lifted)
            if canonical is not None:
                _check_digest(canonical, shape)
                return _verified(_tree(canonical), shape, packet_sha256, parsed.warnings)
    parsed = parse(data, limits=limits, lenient=lenient)
    root = parsed.root
    signature, shape, signed_info_c14n = _checked(root, policy)
    # (2) The signature over SignedInfo's canonical bytes, by the first certificate's key.
    check_value(shape.signer_key, shape.signature_method, shape.signature_value, signed_info_c14n)
    # (3) The reference: enveloped-signature, then exclusive C14N of the whole document.
    _detach(signature)
    big = len(data) >= BIG_TEXT
    out = io.BytesIO()
    # The tree is discarded below, so the attachment texts need not go back into it.
    canonicalize(root, write=out.write, restore=False, big_texts=big)
    document = out.getvalue()
    del out
    _check_digest((document,), shape)
    if big:
        root.clear()  # free the received tree before the signed one is built
    return _verified(_tree((document,)), shape, packet_sha256, parsed.warnings)


def _tree(document: Sequence[bytes | memoryview]) -> etree._Element:
    """(4) What the signature covers, and only that: the tree of the digested bytes."""
    try:
        if len(document) == 1 and isinstance(document[0], bytes):
            return etree.fromstring(document[0], parser=thread_parser())
        return tree_of(document)
    except etree.LxmlError as exc:  # pragma: no cover - C14N output of a parsed tree parses
        raise SignatureInvalid("the signed data is not one XML document") from exc


def _lift(data: bytes, limits: Limits) -> Lifted | None:
    """The packet without its big texts (envelopes._lifted), when it has any and is within
    the size limit (a packet over it is refused by the full parse, as always)."""
    if len(data) < BIG_TEXT or len(data) > limits.max_packet_bytes:
        return None
    return lift(data, max_texts=limits.max_attachments)


def _parse_small(lifted: Lifted, limits: Limits, lenient: bool) -> ParsedXml | None:
    try:
        return parse(lifted.small, limits=limits, lenient=lenient)
    except EnvelopeError:
        return None  # the full parse then names the error, with its line in the packet


def _checked(root: etree._Element, policy: SignaturePolicy) -> tuple[etree._Element, Shape, bytes]:
    """(1) The one Signature and its shape, and SignedInfo's canonical bytes."""
    signature = find_signature(_find_header(root))
    shape = check_shape(signature, allow_sha1=policy.allow_sha1, min_rsa_bits=policy.min_rsa_bits)
    signed_info_c14n = etree.tostring(
        shape.signed_info, method="c14n", exclusive=True, with_comments=False
    )
    return signature, shape, signed_info_c14n


def _check_digest(document: Sequence[bytes | memoryview], shape: Shape) -> None:
    digest = (
        hashlib.sha1()  # noqa: S324 - legacy input, only when the policy allows it
        if shape.digest_method is DigestMethod.SHA1
        else hashlib.sha256()
    )
    for part in document:
        digest.update(part)
    if not hmac.compare_digest(digest.digest(), shape.digest_value):
        raise SignatureInvalid(
            "the document digest does not match the Reference", element="DigestValue"
        )


def _verified(
    root: etree._Element, shape: Shape, packet_sha256: str, warnings: tuple[str, ...]
) -> VerifiedPacket:
    return VerifiedPacket(
        root=root,
        signer_certificate=shape.signer,
        chain=shape.chain,
        signature_algorithm=shape.signature_method.value.rpartition("#")[2],
        digest_algorithm=shape.digest_method.value.rpartition("#")[2],
        packet_sha256=packet_sha256,
        warnings=warnings,
    )


def _detach(signature: etree._Element) -> None:
    """The enveloped-signature transform: drop the Signature, keep the text after it."""
    parent = signature.getparent()
    if parent is None:  # pragma: no cover - find_signature: a child of edXMLHeader
        return
    tail, previous = signature.tail, signature.getprevious()
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(signature)
