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
5. Values are read strictly: base64 only (whitespace allowed), no child elements in
   SignatureValue/DigestValue, DigestValue read from the canonical SignedInfo (what was
   signed); any failure of a check is :class:`SignatureInvalid`.
6. :func:`verify` returns only what the signature covers: the tree parsed (with our parser)
   from the very canonical bytes whose digest matched, without the Signature.

Implementation (issue 3): the profile is written and checked by :mod:`envelopes._xmldsig`
with ``cryptography`` and lxml's C14N directly (signxml's Python-heavy signer and verifier
cost more than the RSA operation on a small packet). The document is parsed once, hashed as it
is canonicalised (:mod:`envelopes._canonical`), and :func:`sign` splices the Signature into the
bytes it was given instead of serialising the packet again.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import io
from base64 import b64decode
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from ._canonical import canonicalize
from ._xmldsig import (
    DS_NS,
    ENVELOPED,
    EXC_C14N,
    DigestMethod,
    PrivateKey,
    SignatureMethod,
    check_value,
    ds,
    key_info,
    sign_value,
    signature_element,
    signed_info,
)
from .errors import (
    NotEdxml,
    SignatureInvalid,
    SignatureMissing,
    SignaturePolicyViolation,
)
from .limits import DEFAULT_LIMITS, Limits
from .parser import EDXML_NS, parse, thread_parser

__all__ = [
    "DEFAULT_SIGNATURE_POLICY",
    "DS_NS",
    "ENVELOPED",
    "EXC_C14N",
    "PrivateKey",
    "SignaturePolicy",
    "VerifiedPacket",
    "sign",
    "verify",
]

HEADER_PATH = f"{{{EDXML_NS}}}edXMLEnvelope/{{{EDXML_NS}}}edXMLHeader"


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
    root = parse(data, limits=limits).root
    header = _find_header(root)
    _check_unsigned(root)
    # Where the Signature goes; the tree now reads as the enveloped transform will see it.
    splice = _plan_splice(header, data)
    hasher = hashlib.sha256()
    # With a splice the tree is not serialised, so attachment texts need not go back in.
    canonicalize(root, write=hasher.update, restore=splice is None)
    to_sign, inner = signed_info(method, hasher.digest())
    try:
        value = sign_value(key, method, to_sign)
    except SignaturePolicyViolation:
        raise
    except Exception as exc:  # cryptography refusing the key
        raise SignaturePolicyViolation(f"cannot sign: {exc}") from exc
    signature_xml = signature_element(inner, value, key_info((certificate, *chain)))
    if splice is None:  # no safe place to splice: serialise the one tree
        header.append(etree.fromstring(signature_xml, parser=thread_parser()))
        return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    offset, before = splice
    root.clear()  # the big tree is done with: free it before the output is built
    view = memoryview(data)
    return b"".join((view[:offset], before, signature_xml, view[offset:]))


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
    header = root.find(HEADER_PATH)
    if header is None:
        raise NotEdxml("no edXMLEnvelope/edXMLHeader to carry the signature")
    return header


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
    parsed = parse(data, limits=limits, lenient=lenient)
    packet_sha256 = hashlib.sha256(data).hexdigest()
    root = parsed.root
    signature = _the_signature(root)
    shape = _check_shape(signature, policy)
    # (1) SignedInfo as signed: its canonical bytes, and the values read back from them (a
    # comment inside DigestValue cannot cut the value short).
    signed_info_c14n = etree.tostring(
        shape.signed_info, method="c14n", exclusive=True, with_comments=False
    )
    expected_digest = _digest_value(signed_info_c14n)
    # (2) The signature over SignedInfo, by the first KeyInfo certificate's key.
    check_value(
        shape.signer.public_key(),  # type: ignore[arg-type]  # _check_signer_key: RSA or EC
        shape.signature_method,
        _base64_value(shape.signature_value),
        signed_info_c14n,
    )
    # (3) The reference: enveloped-signature, then exclusive C14N of the whole document.
    _detach(signature)
    out = io.BytesIO()
    # The tree is discarded below, so the attachment texts need not go back into it.
    canonicalize(root, write=out.write, restore=False)
    canonical = out.getvalue()
    del out
    algorithm = "sha1" if shape.digest_method is DigestMethod.SHA1 else "sha256"
    if not hmac.compare_digest(hashlib.new(algorithm, canonical).digest(), expected_digest):
        raise SignatureInvalid(
            "the document digest does not match the Reference", element="DigestValue"
        )
    # (4) What the signature covers, and only that: the tree of the digested canonical bytes.
    root.clear()  # free the received tree before the signed one is built
    try:
        signed_root = etree.fromstring(canonical, parser=thread_parser())
    except etree.LxmlError as exc:  # pragma: no cover - C14N output of a parsed tree parses
        raise SignatureInvalid("the signed data is not one XML document") from exc
    return VerifiedPacket(
        root=signed_root,
        signer_certificate=shape.signer,
        chain=shape.chain,
        signature_algorithm=shape.signature_method.value.rpartition("#")[2],
        digest_algorithm=shape.digest_method.value.rpartition("#")[2],
        packet_sha256=packet_sha256,
        warnings=parsed.warnings,
    )


def _digest_value(signed_info_c14n: bytes) -> bytes:
    """DigestValue of the canonical SignedInfo (re-parsed: comments gone, text joined)."""
    canonical = etree.fromstring(signed_info_c14n, parser=thread_parser())
    node = canonical.find(f"{ds('Reference')}/{ds('DigestValue')}")
    if node is None:  # pragma: no cover - _check_shape saw the same elements
        raise SignaturePolicyViolation("SignedInfo lost its DigestValue", element="SignedInfo")
    return _base64_value(node)


def _base64_value(node: etree._Element) -> bytes:
    name = etree.QName(node).localname
    if len(node):  # an element or comment inside: .text would be a part of the value
        raise SignatureInvalid(f"{name} must hold base64 text only", element=name)
    return _base64_text(node.text, name)


def _base64_text(text: str | None, element: str) -> bytes:
    try:
        return b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid(f"{element} is not base64", element=element) from exc


def _detach(signature: etree._Element) -> None:
    """The enveloped-signature transform: drop the Signature, keep the text after it."""
    parent = signature.getparent()
    if parent is None:  # pragma: no cover - _the_signature: a child of edXMLHeader
        return
    tail, previous = signature.tail, signature.getprevious()
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(signature)


def _the_signature(root: etree._Element) -> etree._Element:
    header = _find_header(root)
    found = list(root.iter(f"{{{DS_NS}}}Signature"))
    if not found:
        if next(root.iter(f"{{{EDXML_NS}}}Signature", "Signature"), None) is not None:
            raise SignatureMissing(
                "the Signature element lacks the XML-DSig namespace (legacy VNPT form)",
                element="Signature",
            )
        raise SignatureMissing("the packet carries no XML-DSig Signature")
    if len(found) > 1:
        raise SignaturePolicyViolation(f"{len(found)} Signature elements, exactly one allowed")
    signature = found[0]
    if signature.getparent() is not header or signature.getnext() is not None:
        raise SignaturePolicyViolation(
            "the Signature must be the last child of edXMLEnvelope/edXMLHeader",
            element="Signature",
        )
    return signature


@dataclass(frozen=True)
class _Shape:
    signature_method: SignatureMethod
    digest_method: DigestMethod
    signer: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    signed_info: etree._Element
    signature_value: etree._Element


def _children(element: etree._Element, expected: Sequence[str], what: str) -> list[etree._Element]:
    """The element children of ``element``, which must be exactly ``expected`` (ds names)."""
    children = [c for c in element if isinstance(c.tag, str)]
    if [c.tag for c in children] != [ds(n) for n in expected]:
        got = ", ".join(etree.QName(c).localname for c in children)
        raise SignaturePolicyViolation(
            f"{what} must hold {', '.join(expected)}, found {got or 'nothing'}", element=what
        )
    return children


def _check_shape(signature: etree._Element, policy: SignaturePolicy) -> _Shape:
    """Rules 1-4 on the Signature element, before any cryptography runs."""
    signed_info, value, key_info = _children(
        signature, ("SignedInfo", "SignatureValue", "KeyInfo"), "Signature"
    )
    c14n, method, reference = _children(
        signed_info, ("CanonicalizationMethod", "SignatureMethod", "Reference"), "SignedInfo"
    )
    if c14n.get("Algorithm") != EXC_C14N.value or len(c14n):
        raise SignaturePolicyViolation("SignedInfo must use exclusive C14N", element="SignedInfo")
    sha1 = {SignatureMethod.RSA_SHA1.value, DigestMethod.SHA1.value}
    allowed_methods = {SignatureMethod.RSA_SHA256, SignatureMethod.ECDSA_SHA256}
    allowed_digests = {DigestMethod.SHA256}
    if policy.allow_sha1:
        allowed_methods.add(SignatureMethod.RSA_SHA1)
        allowed_digests.add(DigestMethod.SHA1)
    signature_method = _algorithm(method, allowed_methods, sha1)

    if reference.get("URI") != "" or set(reference.attrib) - {"URI", "Id"}:
        raise SignaturePolicyViolation(
            f'the Reference must have URI="" (found {reference.get("URI")!r})', element="Reference"
        )
    transforms, digest_method, _digest = _children(
        reference, ("Transforms", "DigestMethod", "DigestValue"), "Reference"
    )
    steps = _children(transforms, ("Transform", "Transform"), "Transforms")
    if [t.get("Algorithm") for t in steps] != [ENVELOPED, EXC_C14N.value] or any(
        len(t) for t in steps
    ):
        raise SignaturePolicyViolation(
            "the transforms must be exactly [enveloped-signature, exclusive C14N]",
            element="Transforms",
        )
    digest = _algorithm(digest_method, allowed_digests, sha1)

    signer, chain = _key_info_certificates(key_info)
    _check_signer_key(signer, signature_method, policy)
    return _Shape(signature_method, digest, signer, chain, signed_info, value)


def _algorithm(element: etree._Element, allowed: set[Any], sha1: set[str]) -> Any:
    uri = element.get("Algorithm")
    for candidate in allowed:
        if candidate.value == uri:
            return candidate
    why = "SHA-1 is refused unless the legacy policy allows it" if uri in sha1 else "not allowed"
    raise SignaturePolicyViolation(
        f"algorithm {uri!r}: {why}", element=etree.QName(element).localname
    )


def _key_info_certificates(
    key_info: etree._Element,
) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    x509_data = key_info.findall(ds("X509Data"))
    others = [c for c in key_info if isinstance(c.tag, str) and c.tag != ds("X509Data")]
    if len(x509_data) != 1 or any(c.tag not in (ds("KeyName"), ds("KeyValue")) for c in others):
        raise SignaturePolicyViolation("KeyInfo must hold one X509Data", element="KeyInfo")
    certs: list[x509.Certificate] = []
    for node in x509_data[0].iterfind(ds("X509Certificate")):
        try:
            der = b64decode("".join((node.text or "").split()), validate=True)
            certs.append(_load_certificate(der))
        except (
            binascii.Error,
            ValueError,
            TypeError,
            UnsupportedAlgorithm,
            x509.InvalidVersion,
        ) as exc:  # InvalidVersion is no ValueError subclass
            raise SignatureInvalid(
                "an X509Certificate cannot be read", element="X509Certificate"
            ) from exc
    if not certs:
        raise SignaturePolicyViolation(
            "X509Data carries no X509Certificate (the key must come with its certificate)",
            element="X509Data",
        )
    # The signer certificate comes first, then the chain (what we, xmlsec1 and .NET write);
    # if another certificate's key made the signature, verification fails.
    return certs[0], tuple(certs[1:])


@lru_cache(maxsize=128)
def _load_certificate(der: bytes) -> x509.Certificate:
    """Parse a KeyInfo certificate (cached: peers send the same few over and over)."""
    cert = x509.load_der_x509_certificate(der)
    # cryptography decodes lazily: touch what this module uses, here, once.
    _ = (cert.not_valid_before_utc, cert.public_key())
    return cert


def _check_signer_key(
    signer: x509.Certificate, method: SignatureMethod, policy: SignaturePolicy
) -> None:
    public = signer.public_key()  # readable: checked in _key_info_certificates
    if method.name.startswith("RSA_"):
        if not isinstance(public, rsa.RSAPublicKey):
            raise SignaturePolicyViolation("an RSA signature method with a non-RSA key")
        if public.key_size < policy.min_rsa_bits:
            raise SignaturePolicyViolation(
                f"RSA key of {public.key_size} bits, the policy requires {policy.min_rsa_bits}"
            )
    elif not (isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"):
        raise SignaturePolicyViolation("ECDSA-SHA256 requires a P-256 key")
