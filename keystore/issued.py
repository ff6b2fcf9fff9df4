"""An issued identity (certificate, key, chain) and how it is written to files.

Key files are encrypted (PKCS#8 PEM, PKCS#12) and created with mode 0600; reprs never
show key material.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from keystore.profiles import PrivateKey

ISSUING_CERT = "issuing-ca.pem"


@dataclass(frozen=True)
class Issued:
    """A freshly issued certificate with its private key and the chain up to (not
    including) the root."""

    certificate: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...]

    def __repr__(self) -> str:  # never show key material
        return f"Issued(subject={self.certificate.subject.rfc4514_string()!r})"

    def key_pem(self, passphrase: bytes) -> bytes:
        """The private key as encrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )

    def pkcs12(self, passphrase: bytes, *, friendly_name: bytes = b"docnode") -> bytes:
        """Key, certificate and chain as a passphrase-protected PKCS#12 (.pfx)."""
        return pkcs12.serialize_key_and_certificates(
            friendly_name,
            self.key,
            self.certificate,
            list(self.chain),
            serialization.BestAvailableEncryption(passphrase),
        )


@dataclass(frozen=True)
class IdentityFiles:
    """Where :func:`write_identity` put an identity (names match DESIGN §9)."""

    key: Path
    cert: Path
    chain: Path
    pkcs12: Path


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_private(path: Path, data: bytes) -> None:
    """Write a secret-bearing file readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_identity(
    issued: Issued, out_dir: Path, *, passphrase: bytes, stem: str = "signing"
) -> IdentityFiles:
    """Write ``{stem}.key.pem`` (encrypted PKCS#8), ``{stem}.pem``, ``issuing-ca.pem``
    (the chain) and ``{stem}.p12`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = IdentityFiles(
        key=out_dir / f"{stem}.key.pem",
        cert=out_dir / f"{stem}.pem",
        chain=out_dir / ISSUING_CERT,
        pkcs12=out_dir / f"{stem}.p12",
    )
    write_private(files.key, issued.key_pem(passphrase))
    write_private(files.pkcs12, issued.pkcs12(passphrase))
    files.cert.write_bytes(pem(issued.certificate))
    files.chain.write_bytes(b"".join(pem(c) for c in issued.chain))
    return files
