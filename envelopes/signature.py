"""Enveloped XML-DSig over a whole edXML packet (spec/edxml.md §2.3.5, DESIGN §7-8).

Rules (what :func:`sign` produces, and the only thing :func:`verify` accepts):

1. Exactly one ``ds:Signature`` in the whole document, the last child of
   ``edXML/edXMLEnvelope/edXMLHeader``; its children are SignedInfo, SignatureValue, KeyInfo.
2. One ``ds:Reference`` with ``URI=""`` (the whole document) and exactly the transforms
   [enveloped-signature, exclusive C14N]; SignedInfo is canonicalised with exclusive C14N.
3. RSA-SHA256 with a key of at least ``policy.min_rsa_bits``, or ECDSA-P256-SHA256; digest
   SHA-256. SHA-1 (rsa-sha1, sha1) only when ``policy.allow_sha1`` (legacy input) is set.
4. ``KeyInfo/X509Data`` carries the signer certificate and the intermediates. The signature is
   checked against the key of the KeyInfo certificate, which is always handed to signxml as
   ``x509_cert``: signxml never falls back to the ``certifi`` bundle. Whether that
   certificate deserves trust is ``keystore``'s question, not this module's.
5. Any exception out of signxml means "invalid" (:class:`SignatureInvalid`).
6. :func:`verify` returns only what the signature covers: the tree signxml re-parses (with our
   parser) from the canonical bytes it digested.

Performance (issue 3, "known traps"): signxml is driven through :mod:`envelopes._signxml`
(our one parser, no copies of the document, streamed canonicalisation), and :func:`sign`
splices the serialised Signature into the bytes it was given instead of serialising the
packet again. The signer certificate is the first X509Certificate, as we, xmlsec1 and .NET
write it; if another certificate's key made the signature, verification fails.
"""

from __future__ import annotations

import binascii
import hashlib
from base64 import b64decode
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.verifier import SignatureConfiguration

from ._signxml import DS_NS, ENVELOPED, EXC_C14N, Signer, Verifier, ds, key_info
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
_LOCATION = f"./{HEADER_PATH}/"  # signxml appends ds:Signature to this path

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


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
    """The signed document only, re-parsed from the digested canonical bytes, Signature
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

    ``data`` is an unsigned packet: no Signature anywhere and no ``Id`` on the root (signxml
    would then reference ``#id``, which other verifiers reject). Bytes outside the Signature
    element stay exactly as given. Raises an :class:`EnvelopeError` subclass.
    """
    method = _signature_method_for(key, certificate)
    root = parse(data, limits=limits).root
    header = _find_header(root)
    _check_unsigned(root)
    placeholder, splice = _insert_placeholder(header, data)
    # With a splice the tree is not serialised, so attachment texts need not go back in.
    signer = Signer(root, placeholder, method, restore_texts=splice is None)
    try:
        signer.sign(root, key=key, key_info=key_info(certificate, *chain))
    except Exception as exc:  # signxml / cryptography refusing the key or the input
        raise SignaturePolicyViolation(f"cannot sign: {exc}") from exc
    if splice is None:  # no safe place to splice: serialise the one tree
        return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")
    offset, before = splice
    # Exclusive C14N declares exactly the ds namespace on the Signature (plain tostring would
    # repeat every ancestor's declarations).
    signature_xml = etree.tostring(placeholder, method="c14n", exclusive=True)
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


def _insert_placeholder(
    header: etree._Element, data: bytes
) -> tuple[etree._Element, tuple[int, bytes] | None]:
    """Append signxml's placeholder to ``header``; plan where its bytes go in ``data``.

    Returns the placeholder and (offset, before) such that inserting ``before + <Signature>``
    at ``offset`` yields exactly the tree that is signed, or None when the header's end tag
    cannot be located safely.
    """
    last = header[-1] if len(header) else None
    placeholder = etree.SubElement(header, f"{{{DS_NS}}}Signature", nsmap={"ds": DS_NS})
    placeholder.set("Id", "placeholder")
    end = _header_end_offset(data, header)
    if end is None:
        return placeholder, None
    tail, indent = (last.tail if last is not None else None), header.text
    if last is not None and tail and indent and not tail.strip() and not indent.strip():
        encoded = tail.encode()
        if data[end - len(encoded) : end] == encoded:
            # ...</TraceHeaderList>{indent}<ds:Signature>...</ds:Signature>{tail}</...Header>
            last.tail, placeholder.tail = indent, tail
            return placeholder, (end - len(encoded), indent.encode())
    return placeholder, (end, b"")


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
    config = SignatureConfiguration(
        require_x509=True,
        location=_LOCATION,
        expect_references=1,
        signature_methods=frozenset({shape.signature_method}),
        digest_algorithms=frozenset({shape.digest_method}),
        # Validity periods are keystore's check, at a time of its choosing; pinning signxml's
        # own check inside the validity keeps this module off the clock.
        verification_time=shape.signer.not_valid_before_utc,
    )
    verifier = Verifier(root, signature)
    try:
        result = verifier.verify(
            root,
            x509_cert=shape.signer,
            parser=thread_parser(),
            expect_config=config,
            # _check_shape already holds the Signature to a stricter structure than the XSD.
            validate_schema=False,
        )
    except Exception as exc:  # rule 5: whatever signxml raises, the signature does not hold
        raise SignatureInvalid(f"the signature does not verify: {exc}") from exc
    if isinstance(result, list) or result.signed_xml is None:
        raise SignatureInvalid("the signed data is not one XML document")
    return VerifiedPacket(
        root=result.signed_xml,
        signer_certificate=shape.signer,
        chain=shape.chain,
        signature_algorithm=shape.signature_method.value.rpartition("#")[2],
        digest_algorithm=shape.digest_method.value.rpartition("#")[2],
        packet_sha256=packet_sha256,
        warnings=parsed.warnings,
    )


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
    digest_method: DigestAlgorithm
    signer: x509.Certificate
    chain: tuple[x509.Certificate, ...]


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
    signed_info, _value, key_info = _children(
        signature, ("SignedInfo", "SignatureValue", "KeyInfo"), "Signature"
    )
    c14n, method, reference = _children(
        signed_info, ("CanonicalizationMethod", "SignatureMethod", "Reference"), "SignedInfo"
    )
    if c14n.get("Algorithm") != EXC_C14N.value or len(c14n):
        raise SignaturePolicyViolation("SignedInfo must use exclusive C14N", element="SignedInfo")
    sha1 = {SignatureMethod.RSA_SHA1.value, DigestAlgorithm.SHA1.value}
    allowed_methods = {SignatureMethod.RSA_SHA256, SignatureMethod.ECDSA_SHA256}
    allowed_digests = {DigestAlgorithm.SHA256}
    if policy.allow_sha1:
        allowed_methods.add(SignatureMethod.RSA_SHA1)
        allowed_digests.add(DigestAlgorithm.SHA1)
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
    return _Shape(signature_method, digest, signer, chain)


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
