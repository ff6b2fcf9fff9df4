"""Picklable jobs for a ``concurrent.futures`` process pool (STYLE §6; no asyncio here).

Large packets take seconds of CPU; ``docnode`` runs them in worker processes so that they
neither block its event loop nor hold the GIL. What crosses the process boundary must pickle,
and neither ``cryptography`` keys and certificates nor lxml trees do. Rules:

1. Jobs are top-level functions taking bytes, models and frozen settings only: keys as PEM
   (PKCS#8 or traditional, optionally encrypted with ``passphrase``), certificates as PEM.
2. Results are bytes or frozen dataclasses of picklable values: certificates travel as DER
   and are loaded on access; the verified tree stays in the worker (the decoded model is
   what the parent needs).
3. Errors are the same :class:`~envelopes.errors.EnvelopeError` subclasses as in-process
   (they pickle); a key that cannot be loaded is :class:`SignaturePolicyViolation`, and the
   message never contains key material.

Example::

    with ProcessPoolExecutor() as pool:
        signed = pool.submit(pack_edoc_job, edoc, key_pem=k, certificate_pem=c).result()
        opened = pool.submit(open_packet_job, signed).result()
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key

from envelopes.edxml import AttachmentEncoding
from envelopes.errors import SignaturePolicyViolation
from envelopes.limits import DEFAULT_LIMITS, Limits
from envelopes.model import Edoc, StatusMessage
from envelopes.packet import open_packet, pack_edoc, pack_status
from envelopes.signature import (
    DEFAULT_SIGNATURE_POLICY,
    PrivateKey,
    SignaturePolicy,
    VerifiedPacket,
    sign,
    verify,
)

__all__ = [
    "OpenedFacts",
    "VerifiedFacts",
    "open_packet_job",
    "pack_edoc_job",
    "pack_status_job",
    "sign_job",
    "verify_job",
]


@dataclass(frozen=True, slots=True)
class VerifiedFacts:
    """:class:`~envelopes.signature.VerifiedPacket` without the tree, in picklable form."""

    signer_certificate_der: bytes
    chain_der: tuple[bytes, ...]
    signature_algorithm: str
    digest_algorithm: str
    packet_sha256: str
    warnings: tuple[str, ...] = ()

    @property
    def signer_certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.signer_certificate_der)

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return tuple(x509.load_der_x509_certificate(der) for der in self.chain_der)

    @classmethod
    def of(cls, verified: VerifiedPacket) -> VerifiedFacts:
        return cls(
            signer_certificate_der=verified.signer_certificate.public_bytes(Encoding.DER),
            chain_der=tuple(c.public_bytes(Encoding.DER) for c in verified.chain),
            signature_algorithm=verified.signature_algorithm,
            digest_algorithm=verified.digest_algorithm,
            packet_sha256=verified.packet_sha256,
            warnings=verified.warnings,
        )


@dataclass(frozen=True, slots=True)
class OpenedFacts:
    """:class:`~envelopes.packet.OpenedPacket` in picklable form (same attribute names)."""

    packet: Edoc | StatusMessage
    verified: VerifiedFacts
    warnings: tuple[str, ...] = ()


def sign_job(
    data: bytes,
    *,
    key_pem: bytes,
    certificate_pem: bytes,
    chain_pem: bytes = b"",
    passphrase: bytes | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """:func:`envelopes.signature.sign` with PEM inputs."""
    key, certificate, chain = _identity(key_pem, certificate_pem, chain_pem, passphrase)
    return sign(data, key=key, certificate=certificate, chain=chain, limits=limits)


def pack_edoc_job(
    edoc: Edoc,
    *,
    key_pem: bytes,
    certificate_pem: bytes,
    chain_pem: bytes = b"",
    passphrase: bytes | None = None,
    encoding: AttachmentEncoding = AttachmentEncoding.ZIP,
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """:func:`envelopes.packet.pack_edoc` with PEM inputs."""
    key, certificate, chain = _identity(key_pem, certificate_pem, chain_pem, passphrase)
    return pack_edoc(
        edoc, key=key, certificate=certificate, chain=chain, encoding=encoding, limits=limits
    )


def pack_status_job(
    status: StatusMessage,
    *,
    key_pem: bytes,
    certificate_pem: bytes,
    chain_pem: bytes = b"",
    passphrase: bytes | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """:func:`envelopes.packet.pack_status` with PEM inputs."""
    key, certificate, chain = _identity(key_pem, certificate_pem, chain_pem, passphrase)
    return pack_status(status, key=key, certificate=certificate, chain=chain, limits=limits)


def verify_job(
    data: bytes,
    *,
    policy: SignaturePolicy = DEFAULT_SIGNATURE_POLICY,
    limits: Limits = DEFAULT_LIMITS,
    lenient: bool = False,
) -> VerifiedFacts:
    """:func:`envelopes.signature.verify`; the signed tree stays in the worker."""
    return VerifiedFacts.of(verify(data, policy=policy, limits=limits, lenient=lenient))


def open_packet_job(
    data: bytes,
    *,
    policy: SignaturePolicy = DEFAULT_SIGNATURE_POLICY,
    limits: Limits = DEFAULT_LIMITS,
    lenient: bool = False,
) -> OpenedFacts:
    """:func:`envelopes.packet.open_packet`, returning the decoded model and the facts."""
    opened = open_packet(data, policy=policy, limits=limits, lenient=lenient)
    return OpenedFacts(
        packet=opened.packet, verified=VerifiedFacts.of(opened.verified), warnings=opened.warnings
    )


def _identity(
    key_pem: bytes, certificate_pem: bytes, chain_pem: bytes, passphrase: bytes | None
) -> tuple[PrivateKey, x509.Certificate, tuple[x509.Certificate, ...]]:
    try:
        key = load_pem_private_key(key_pem, password=passphrase)
    except (ValueError, TypeError) as exc:
        # Never echo the PEM or the passphrase; the exception text of cryptography does not.
        raise SignaturePolicyViolation(
            f"cannot load the signing key ({type(exc).__name__})"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SignaturePolicyViolation(f"unsupported signing key type {type(key).__name__}")
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        chain = tuple(x509.load_pem_x509_certificates(chain_pem)) if chain_pem.strip() else ()
    except ValueError as exc:
        raise SignaturePolicyViolation(f"cannot load a certificate: {exc}") from exc
    return key, certificate, chain
