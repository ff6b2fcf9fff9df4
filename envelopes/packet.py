"""Signed edXML packets: model → signed bytes, and signed bytes → verified model.

Rules:

1. :func:`pack_edoc` / :func:`pack_status` = :mod:`envelopes.edxml` encoding →
   :func:`envelopes.signature.sign`. The bytes returned are the bytes to send and to hash
   (one object, never re-serialised). Packets without extras are signed as they are built
   (:func:`envelopes.edxml.prepare_edoc`: the digest is taken from the encoder's canonical
   rendering, the Signature goes where ``sign`` would put it), giving exactly the bytes
   ``sign(encode_edoc(...))`` gives, without parsing them back.
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
from envelopes._builder import Prepared
from envelopes.edxml import (
    AttachmentEncoding,
    decode,
    encode_edoc,
    encode_status,
    prepare_edoc,
    prepare_status,
)
from envelopes.errors import TooLarge
from envelopes.limits import DEFAULT_LIMITS, Limits
from envelopes.model import Edoc, StatusMessage
from envelopes.signature import (
    DEFAULT_SIGNATURE_POLICY,
    PrivateKey,
    SignaturePolicy,
    VerifiedPacket,
    enveloped_signature,
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
    prepared = prepare_edoc(edoc, encoding=encoding)
    if prepared is None:  # extras from a lenient read: lxml placed them, sign those bytes
        unsigned = encode_edoc(edoc, encoding=encoding)
        return sign(unsigned, key=key, certificate=certificate, chain=chain, limits=limits)
    return _sign_prepared(prepared, key=key, certificate=certificate, chain=chain, limits=limits)


def pack_status(
    status: StatusMessage,
    *,
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """Encode and sign a status packet (rule 1); receipts are such packets."""
    prepared = prepare_status(status)
    if prepared is None:
        unsigned = encode_status(status)
        return sign(unsigned, key=key, certificate=certificate, chain=chain, limits=limits)
    return _sign_prepared(prepared, key=key, certificate=certificate, chain=chain, limits=limits)


def _sign_prepared(
    prepared: Prepared,
    *,
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    limits: Limits,
) -> bytes:
    """What :func:`sign` makes of ``prepared.unsigned()``, without parsing it (rule 1)."""
    size = len(prepared.before) - prepared.indent + len(prepared.after)
    if size > limits.max_packet_bytes:  # sign() would refuse to parse it
        raise TooLarge(f"document is {size} bytes, the limit is {limits.max_packet_bytes} bytes")
    signature = enveloped_signature(prepared.digest, key=key, certificate=certificate, chain=chain)
    return prepared.signed(signature)


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
