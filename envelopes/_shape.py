"""The received Signature's place and shape (:mod:`envelopes.signature` rules 1-5), checked
on the parsed tree before any cryptography runs.

Rules:

1. Exactly one ``ds:Signature`` in the document, the last child of ``edXMLHeader``; a
   Signature without the XML-DSig namespace (legacy VNPT) counts as none.
2. Element children exactly as written by the profile (:mod:`envelopes._xmldsig`):
   Signature = SignedInfo, SignatureValue, KeyInfo; SignedInfo = CanonicalizationMethod
   (exclusive, no parameters), SignatureMethod, one Reference (``URI=""``, no other attribute
   but ``Id``) = Transforms ([enveloped-signature, exclusive C14N], no parameters),
   DigestMethod, DigestValue. Comments may sit between them (C14N does not sign comments).
3. Algorithms from the allowed sets only; SHA-1 only when the policy allows legacy input.
4. KeyInfo holds one X509Data (besides at most KeyName / KeyValue, never used) with at least
   one readable X509Certificate; the first is the signer, the others the chain as sent. The
   signer's key is RSA of at least the policy's size for the RSA methods, P-256 for ECDSA.
5. Values: DigestValue is read as signed (its text nodes joined, comments skipped; an element
   inside is refused); SignatureValue and X509Certificate must be plain text. Base64 may
   carry whitespace; anything else unreadable is :class:`SignatureInvalid`.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree

from ._xmldsig import (
    DS_NS,
    ENVELOPED,
    EXC_C14N,
    DigestMethod,
    PublicKey,
    SignatureMethod,
    ds,
)
from .errors import SignatureInvalid, SignatureMissing, SignaturePolicyViolation
from .parser import EDXML_NS

_SIGNATURE = ds("Signature")
_SIGNATURE_CHILDREN = tuple(map(ds, ("SignedInfo", "SignatureValue", "KeyInfo")))
_SIGNED_INFO_CHILDREN = tuple(map(ds, ("CanonicalizationMethod", "SignatureMethod", "Reference")))
_REFERENCE_CHILDREN = tuple(map(ds, ("Transforms", "DigestMethod", "DigestValue")))
_TRANSFORMS_CHILDREN = tuple(map(ds, ("Transform", "Transform")))
_TRANSFORMS = [ENVELOPED, EXC_C14N.value]
_X509_DATA = ds("X509Data")
_X509_CERTIFICATE = ds("X509Certificate")
_UNUSED_KEY_INFO = (ds("KeyName"), ds("KeyValue"))
_SHA1 = frozenset({SignatureMethod.RSA_SHA1.value, DigestMethod.SHA1.value})
_METHODS = {m.value: m for m in SignatureMethod}
_DIGESTS = {d.value: d for d in DigestMethod}


@dataclass(frozen=True, slots=True)
class Shape:
    """What the checks found: the algorithms, the certificates and the values to check."""

    signature_method: SignatureMethod
    digest_method: DigestMethod
    signer: x509.Certificate
    signer_key: PublicKey
    chain: tuple[x509.Certificate, ...]
    signed_info: etree._Element
    signature_value: bytes
    digest_value: bytes


def find_signature(header: etree._Element) -> etree._Element:
    """Rule 1: the one Signature of the document ``header`` belongs to."""
    root = header.getroottree().getroot()
    found = list(root.iter(_SIGNATURE))
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


def check_shape(signature: etree._Element, *, allow_sha1: bool, min_rsa_bits: int) -> Shape:
    """Rules 2-5."""
    signed_info, value, key_info = _children(signature, _SIGNATURE_CHILDREN, "Signature")
    c14n, method, reference = _children(signed_info, _SIGNED_INFO_CHILDREN, "SignedInfo")
    if c14n.get("Algorithm") != EXC_C14N.value or len(c14n):
        raise SignaturePolicyViolation("SignedInfo must use exclusive C14N", element="SignedInfo")
    signature_method = _METHODS.get(method.get("Algorithm") or "")
    if signature_method is None or (
        signature_method is SignatureMethod.RSA_SHA1 and not allow_sha1
    ):
        raise _refused(method)
    if reference.get("URI") != "" or set(reference.attrib) - {"URI", "Id"}:
        raise SignaturePolicyViolation(
            f'the Reference must have URI="" (found {reference.get("URI")!r})', element="Reference"
        )
    transforms, digest_method, digest_value = _children(reference, _REFERENCE_CHILDREN, "Reference")
    steps = _children(transforms, _TRANSFORMS_CHILDREN, "Transforms")
    if [t.get("Algorithm") for t in steps] != _TRANSFORMS or len(steps[0]) or len(steps[1]):
        raise SignaturePolicyViolation(
            "the transforms must be exactly [enveloped-signature, exclusive C14N]",
            element="Transforms",
        )
    digest = _DIGESTS.get(digest_method.get("Algorithm") or "")
    if digest is None or (digest is DigestMethod.SHA1 and not allow_sha1):
        raise _refused(digest_method)
    signer, signer_key, chain = _key_info_certificates(key_info)
    _check_signer_key(signer_key, signature_method, min_rsa_bits)
    return Shape(
        signature_method=signature_method,
        digest_method=digest,
        signer=signer,
        signer_key=signer_key,
        chain=chain,
        signed_info=signed_info,
        signature_value=_base64(_plain_text(value), "SignatureValue"),
        digest_value=_base64(_signed_text(digest_value), "DigestValue"),
    )


def _children(
    element: etree._Element, expected: tuple[str, ...], what: str
) -> list[etree._Element]:
    """The element children of ``element``, which must be exactly ``expected`` (Clark names)."""
    children = list(element.iterchildren(etree.Element))
    if [c.tag for c in children] != list(expected):
        want = ", ".join(etree.QName(name).localname for name in expected)
        got = ", ".join(etree.QName(c).localname for c in children)
        raise SignaturePolicyViolation(
            f"{what} must hold {want}, found {got or 'nothing'}", element=what
        )
    return children


def _refused(element: etree._Element) -> SignaturePolicyViolation:
    uri = element.get("Algorithm")
    why = "SHA-1 is refused unless the legacy policy allows it" if uri in _SHA1 else "not allowed"
    return SignaturePolicyViolation(
        f"algorithm {uri!r}: {why}", element=etree.QName(element).localname
    )


def _plain_text(node: etree._Element) -> str:
    """Rule 5 for SignatureValue: no child nodes at all (``.text`` would be a part only)."""
    if len(node):
        name = etree.QName(node).localname
        raise SignatureInvalid(f"{name} must hold base64 text only", element=name)
    return node.text or ""


def _signed_text(node: etree._Element) -> str:
    """Rule 5 for DigestValue: the text C14N writes for it (comments are not signed)."""
    if not len(node):
        return node.text or ""
    if next(node.iterchildren(etree.Element), None) is not None:
        name = etree.QName(node).localname
        raise SignatureInvalid(f"{name} must hold base64 text only", element=name)
    return "".join(t for t in node.itertext() if isinstance(t, str))


def _base64(text: str, element: str) -> bytes:
    try:
        return b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid(f"{element} is not base64", element=element) from exc


def _key_info_certificates(
    key_info: etree._Element,
) -> tuple[x509.Certificate, PublicKey, tuple[x509.Certificate, ...]]:
    """Rule 4: (signer, its key, chain)."""
    x509_data = None
    for child in key_info.iterchildren(etree.Element):
        if child.tag == _X509_DATA and x509_data is None:
            x509_data = child
        elif child.tag not in _UNUSED_KEY_INFO:
            x509_data = None
            break
    if x509_data is None:
        raise SignaturePolicyViolation("KeyInfo must hold one X509Data", element="KeyInfo")
    loaded = [_certificate(node.text or "") for node in x509_data.iterchildren(_X509_CERTIFICATE)]
    if not loaded:
        raise SignaturePolicyViolation(
            "X509Data carries no X509Certificate (the key must come with its certificate)",
            element="X509Data",
        )
    # The signer certificate comes first, then the chain (what we, xmlsec1 and .NET write);
    # if another certificate's key made the signature, verification fails.
    (signer, signer_key), *chain = loaded
    if signer_key is None:
        raise SignaturePolicyViolation("the signer key is neither RSA nor EC")
    return signer, signer_key, tuple(cert for cert, _ in chain)


@lru_cache(maxsize=128)
def _certificate(text: str) -> tuple[x509.Certificate, PublicKey | None]:
    """A KeyInfo certificate and its key, from the element text (cached: peers send the same
    few over and over; cryptography parses the key anew on every ``public_key()``)."""
    try:
        cert = x509.load_der_x509_certificate(b64decode("".join(text.split()), validate=True))
        _ = cert.not_valid_before_utc  # decoded lazily: touch what callers use, here, once
        public = cert.public_key()
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
    return cert, public if isinstance(
        public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    ) else None


def _check_signer_key(public: PublicKey, method: SignatureMethod, min_rsa_bits: int) -> None:
    if method is not SignatureMethod.ECDSA_SHA256:
        if not isinstance(public, rsa.RSAPublicKey):
            raise SignaturePolicyViolation("an RSA signature method with a non-RSA key")
        if public.key_size < min_rsa_bits:
            raise SignaturePolicyViolation(
                f"RSA key of {public.key_size} bits, the policy requires {min_rsa_bits}"
            )
    elif not (isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"):
        raise SignaturePolicyViolation("ECDSA-SHA256 requires a P-256 key")


__all__ = ["DS_NS", "Shape", "check_shape", "find_signature"]
