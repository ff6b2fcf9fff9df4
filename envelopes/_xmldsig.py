"""The one XML-DSig profile envelopes writes and reads, built and checked without signxml.

What is written (spec/edxml.md §2.3.5, DESIGN §8; what xmlsec1, signxml and .NET accept):
``ds:Signature`` / ``SignedInfo`` (exclusive C14N, RSA-SHA256 or ECDSA-SHA256, one Reference
``URI=""`` with the transforms [enveloped-signature, exclusive C14N], digest SHA-256) /
``SignatureValue`` / ``KeyInfo/X509Data`` with the signer certificate first, then the chain.

Rules:

1. SignedInfo is produced directly in its canonical form (exclusive C14N 1.0 without comments:
   no whitespace, ``<a></a>`` for empty elements, one attribute each, nothing to escape in the
   algorithm URIs and base64 values). Those exact bytes are signed; the Signature element is
   written in canonical form too, so that a verifier canonicalising SignedInfo in place gets
   them back (tests compare both with lxml's C14N of what we write).
2. KeyInfo is rendered once per certificate chain (the signer's certificates do not change
   from one packet to the next).
3. Signature values: RSA PKCS#1 v1.5; ECDSA as the XML-DSig 1.1 ``r || s`` (two 32-byte
   integers for P-256), not DER. Any failure of a signature check is :class:`SignatureInvalid`.

Signing and verifying whole packets (where the Signature goes, the policy, the digest over the
document) is :mod:`envelopes.signature`'s job; this module only holds the profile.
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Sequence
from enum import Enum
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import Encoding

from .errors import SignatureInvalid, SignaturePolicyViolation

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class CanonicalizationMethod(Enum):
    """The one canonicalisation envelopes signs with and accepts."""

    EXCLUSIVE_XML_CANONICALIZATION_1_0 = "http://www.w3.org/2001/10/xml-exc-c14n#"


EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0


class SignatureMethod(Enum):
    """Signature algorithms by their XML-DSig URI (SHA-1 for legacy input only)."""

    RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"


class DigestMethod(Enum):
    """Reference digest algorithms by their XML-DSig URI (SHA-1 for legacy input only)."""

    SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
    SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"


def ds(name: str) -> str:
    """Clark name of an XML-DSig element."""
    return f"{{{DS_NS}}}{name}"


# --- writing (rules 1-2) --------------------------------------------------------------------

_NS_DECL = f' xmlns:ds="{DS_NS}"'


def _empty(name: str, algorithm: str) -> str:
    return f'<ds:{name} Algorithm="{algorithm}"></ds:{name}>'


@lru_cache(maxsize=8)
def _signed_info_parts(method: SignatureMethod) -> tuple[bytes, bytes]:
    """SignedInfo's canonical bytes before and after the DigestValue text (no ns declaration:
    :func:`signed_info` adds it where C14N puts it)."""
    head = (
        "<ds:SignedInfo>"
        + _empty("CanonicalizationMethod", EXC_C14N.value)
        + _empty("SignatureMethod", method.value)
        + '<ds:Reference URI=""><ds:Transforms>'
        + _empty("Transform", ENVELOPED)
        + _empty("Transform", EXC_C14N.value)
        + "</ds:Transforms>"
        + _empty("DigestMethod", DigestMethod.SHA256.value)
        + "<ds:DigestValue>"
    )
    return head.encode(), b"</ds:DigestValue></ds:Reference></ds:SignedInfo>"


def signed_info(method: SignatureMethod, digest: bytes) -> tuple[bytes, bytes]:
    """SignedInfo for a SHA-256 document ``digest``: (the canonical bytes to sign, the same
    element as it sits inside the Signature, i.e. without its own ``xmlns:ds``)."""
    head, tail = _signed_info_parts(method)
    inner = head + b64encode(digest) + tail
    return inner.replace(b"<ds:SignedInfo>", b"<ds:SignedInfo" + _NS_DECL.encode() + b">", 1), inner


def signature_element(inner_signed_info: bytes, value: bytes, key_info: bytes) -> bytes:
    """The canonical ``ds:Signature`` (rule 1) from :func:`signed_info`'s second item."""
    return b"".join(
        (
            b"<ds:Signature",
            _NS_DECL.encode(),
            b">",
            inner_signed_info,
            b"<ds:SignatureValue>",
            b64encode(value),
            b"</ds:SignatureValue>",
            key_info,
            b"</ds:Signature>",
        )
    )


def key_info(certificates: Sequence[x509.Certificate]) -> bytes:
    """``ds:KeyInfo/ds:X509Data`` with one X509Certificate each, signer first (rule 2)."""
    return _key_info(tuple(certificates))


@lru_cache(maxsize=32)
def _key_info(certificates: tuple[x509.Certificate, ...]) -> bytes:
    items = "".join(
        f"<ds:X509Certificate>{b64encode(c.public_bytes(Encoding.DER)).decode()}"
        "</ds:X509Certificate>"
        for c in certificates
    )
    return f"<ds:KeyInfo><ds:X509Data>{items}</ds:X509Data></ds:KeyInfo>".encode()


# --- signature values (rule 3) --------------------------------------------------------------

_P256_BYTES = 32


def sign_value(key: PrivateKey, method: SignatureMethod, data: bytes) -> bytes:
    """The SignatureValue bytes of ``data`` (SHA-256 methods only: we never sign with SHA-1)."""
    if method is SignatureMethod.RSA_SHA256 and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if method is SignatureMethod.ECDSA_SHA256 and isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
    raise SignaturePolicyViolation(f"cannot sign with {method.name} and this key")


def check_value(public: PublicKey, method: SignatureMethod, value: bytes, data: bytes) -> None:
    """Raise :class:`SignatureInvalid` unless ``value`` is ``method``'s signature of ``data``
    by ``public`` (the caller has matched the key type to the method)."""
    digest: hashes.HashAlgorithm = (
        hashes.SHA1() if method is SignatureMethod.RSA_SHA1 else hashes.SHA256()  # noqa: S303
    )
    try:
        if isinstance(public, rsa.RSAPublicKey) and method is not SignatureMethod.ECDSA_SHA256:
            public.verify(value, data, padding.PKCS1v15(), digest)
            return
        if isinstance(public, ec.EllipticCurvePublicKey) and method is SignatureMethod.ECDSA_SHA256:
            size = (public.curve.key_size + 7) // 8
            if len(value) != 2 * size:
                raise SignatureInvalid(
                    f"an ECDSA SignatureValue of {len(value)} bytes, expected {2 * size}",
                    element="SignatureValue",
                )
            r, s = int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big")
            public.verify(utils.encode_dss_signature(r, s), data, ec.ECDSA(digest))
            return
    except InvalidSignature as exc:
        raise SignatureInvalid(
            "the signature value does not match SignedInfo", element="SignatureValue"
        ) from exc
    except (ValueError, TypeError) as exc:  # malformed value (cryptography refuses to parse)
        raise SignatureInvalid(f"the signature value cannot be checked: {exc}") from exc
    raise SignatureInvalid(f"{method.name} does not fit the signer's key")
