"""The node's signing door (STYLE §7, X-Road's SignerSigningKey): the only holder of the
node's key inside the daemon; everything that signs asks here.

Rules:
1. The key is loaded once, by ``keystore.identity`` (encrypted PEM or PKCS#12), at start.
2. Signing runs off the event loop through ``docnode.offload``: small packets in a thread with
   the loaded key object; large ones in a worker process, which gets the key as unencrypted
   PKCS#8 PEM bytes over the pool's pipe (never a file, never a log line).
3. A packet is signed ONCE, at submission (DESIGN §5): callers store the bytes and resend them.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from docnode.offload import Offloader
from envelopes.model import Edoc, StatusMessage
from envelopes.offload import pack_edoc_job
from envelopes.packet import pack_edoc, pack_status
from keystore.identity import SigningIdentity


@dataclass(frozen=True, slots=True)
class SignedPacket:
    data: bytes
    sha256: str


class PacketSigner:
    """Signs edoc and status packets with the node's identity (rules 1-3)."""

    def __init__(self, identity: SigningIdentity, offloader: Offloader) -> None:
        self._identity = identity
        self._offloader = offloader

    def __repr__(self) -> str:  # never show key material
        return f"PacketSigner({self.certificate.subject.rfc4514_string()!r})"

    @property
    def certificate(self) -> x509.Certificate:
        return self._identity.certificate

    @property
    def identity(self) -> SigningIdentity:
        return self._identity

    def _key_pem(self) -> bytes:
        return self._identity.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    async def sign_edoc(self, edoc: Edoc) -> bytes:
        ident = self._identity
        size = sum(len(a.data) for a in edoc.attachments)
        if size >= self._offloader.process_threshold:
            # Rule 2: a large packet is encoded and signed in a worker process.
            return await self._offloader.run(
                size, pack_edoc_job, edoc, key_pem=self._key_pem(),
                certificate_pem=_pem(ident.certificate),
                chain_pem=b"".join(_pem(c) for c in ident.chain),
            )
        return await self._offloader.in_thread(
            pack_edoc, edoc, key=ident.key, certificate=ident.certificate, chain=ident.chain
        )

    async def sign_status(self, status: StatusMessage) -> bytes:
        ident = self._identity
        return await self._offloader.in_thread(
            pack_status, status, key=ident.key, certificate=ident.certificate,
            chain=ident.chain,
        )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)
