"""Signed edXML packets: model → signed bytes, and signed bytes → verified model.

Rules:

1. :func:`pack_edoc` / :func:`pack_status` = :mod:`envelopes.edxml` encoding →
   :func:`envelopes.signature.sign`. The bytes returned are the bytes to send and to hash
   (one object, never re-serialised).
2. :func:`open_packet` = :func:`envelopes.signature.verify` → schema validation →
   decoding, all three on ``verified.root``: the tree rebuilt from what the signature covers.
   Nothing the signature does not cover reaches the model.
3. Any bytes given to :func:`open_packet` return an :class:`OpenedPacket` or raise an
   :class:`~envelopes.errors.EnvelopeError` subclass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from envelopes import schema
from envelopes.edxml import AttachmentEncoding, decode, encode_edoc, encode_status
from envelopes.limits import DEFAULT_LIMITS, Limits
from envelopes.model import Edoc, StatusMessage
from envelopes.signature import (
    DEFAULT_SIGNATURE_POLICY,
    PrivateKey,
    SignaturePolicy,
    VerifiedPacket,
    sign,
    verify,
)

__all__ = ["OpenedPacket", "open_packet", "pack_edoc", "pack_status"]


@dataclass(frozen=True)
class OpenedPacket:
    """A packet whose signature holds, decoded from the signed content only."""

    packet: Edoc | StatusMessage
    """The decoded edoc or status packet."""
    verified: VerifiedPacket
    """Signer certificate, chain, algorithms and the SHA-256 of the bytes received."""
    warnings: tuple[str, ...] = ()
    """Lenient-mode repairs (parser, schema, decoder, in that order); empty when strict."""


def pack_edoc(
    edoc: Edoc,
    *,
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    encoding: AttachmentEncoding = AttachmentEncoding.ZIP,
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """Encode and sign an edoc (rule 1)."""
    unsigned = encode_edoc(edoc, encoding=encoding)
    return sign(unsigned, key=key, certificate=certificate, chain=chain, limits=limits)


def pack_status(
    status: StatusMessage,
    *,
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """Encode and sign a status packet (rule 1); receipts are such packets."""
    unsigned = encode_status(status)
    return sign(unsigned, key=key, certificate=certificate, chain=chain, limits=limits)


def open_packet(
    data: bytes,
    *,
    policy: SignaturePolicy = DEFAULT_SIGNATURE_POLICY,
    limits: Limits = DEFAULT_LIMITS,
    lenient: bool = False,
) -> OpenedPacket:
    """Verify, validate and decode ``data`` (rule 2)."""
    verified = verify(data, policy=policy, limits=limits, lenient=lenient)
    if lenient:
        schema_warnings = schema.validate_lenient(verified.root)
    else:
        schema.validate(verified.root)
        schema_warnings = ()
    decoded = decode(verified.root, limits=limits, lenient=lenient)
    return OpenedPacket(
        packet=decoded.packet,
        verified=verified,
        warnings=verified.warnings + schema_warnings + decoded.warnings,
    )
