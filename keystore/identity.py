"""This node's signing identity: private key, certificate and chain — the one door to keys.

Rules:
1. The key comes from an ENCRYPTED PKCS#8 PEM (with the certificate and chain as PEM) or
   from a PKCS#12/.pfx file (what CAs hand agencies). An unencrypted key file is refused.
2. The passphrase comes from an environment variable or a file — never from the command
   line or the config file in clear. Exactly one source.
3. Passphrases never appear in messages, reprs or logs; key material never in reprs.
4. The key must match the certificate; when ``at`` is given the certificate must be
   valid then. Each failure is an IdentityInvalid with its own Reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from keystore.errors import IdentityInvalid, Reason
from keystore.trust import fingerprint, organ_ids_of

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class SigningIdentity:
    """A usable signing key with its certificate and the chain sent along with it."""

    key: SigningKey = field(repr=False)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    def __repr__(self) -> str:
        return (
            f"SigningIdentity(subject={self.certificate.subject.rfc4514_string()!r}, "
            f"fingerprint={fingerprint(self.certificate)!r}, chain={len(self.chain)})"
        )

    @property
    def organ_ids(self) -> tuple[str, ...]:
        return organ_ids_of(self.certificate)

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    def key_pem(self, passphrase: bytes) -> bytes:
        """The key as encrypted PKCS#8 PEM (for a signing worker process)."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )


def read_passphrase(
    *,
    env: str | None = None,
    file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> bytes:
    """The passphrase from environment variable ``env`` or from ``file`` (one trailing
    newline stripped). Exactly one source must be named."""
    if env is not None and file is not None:
        raise IdentityInvalid(
            "give the passphrase through an environment variable or a file, not both",
            reason=Reason.PASSPHRASE_AMBIGUOUS,
        )
    if env is not None:
        value = (os.environ if environ is None else environ).get(env)
        if not value:
            raise IdentityInvalid(
                f"environment variable {env} is not set", reason=Reason.PASSPHRASE_MISSING
            )
        return value.encode()
    if file is not None:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise IdentityInvalid(
                f"cannot read passphrase file {file}: {exc.strerror}", reason=Reason.UNREADABLE
            ) from None
        data = data.removesuffix(b"\n").removesuffix(b"\r")
        if not data:
            raise IdentityInvalid(
                f"passphrase file {file} is empty", reason=Reason.PASSPHRASE_MISSING
            )
        return data
    raise IdentityInvalid("no passphrase source given", reason=Reason.PASSPHRASE_MISSING)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IdentityInvalid(
            f"cannot read {what} {path}: {exc.strerror}", reason=Reason.UNREADABLE
        ) from None


def _certs(path: Path, what: str) -> list[x509.Certificate]:
    data = _read(path, what)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise IdentityInvalid(
            f"{what} {path} holds no certificate", reason=Reason.UNREADABLE
        ) from None


def _usable(key: object, path: Path) -> SigningKey:
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise IdentityInvalid(
            f"{path}: only RSA and ECDSA keys sign edXML", reason=Reason.UNSUPPORTED_KEY
        )
    return key


def _load_pem_key(path: Path, passphrase: bytes | None) -> SigningKey:
    data = _read(path, "key file")
    if (
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----" not in data
        and b"Proc-Type: 4,ENCRYPTED" not in data
    ):
        if b"PRIVATE KEY-----" in data:
            raise IdentityInvalid(
                f"{path} holds an unencrypted private key; encrypt it (PKCS#8)",
                reason=Reason.KEY_NOT_ENCRYPTED,
            )
        raise IdentityInvalid(f"{path} holds no PEM private key", reason=Reason.UNREADABLE)
    if passphrase is None:
        raise IdentityInvalid(f"{path} needs a passphrase", reason=Reason.PASSPHRASE_MISSING)
    try:
        key = serialization.load_pem_private_key(data, passphrase)
    except (ValueError, TypeError):
        # cryptography cannot tell a wrong passphrase from a damaged encrypted key; the
        # former is what operators meet. `from None`: the cause may quote key bytes.
        raise IdentityInvalid(
            f"cannot decrypt {path}: wrong passphrase?", reason=Reason.WRONG_PASSPHRASE
        ) from None
    return _usable(key, path)


def _load_pkcs12(
    path: Path, passphrase: bytes | None
) -> tuple[SigningKey, x509.Certificate, list[x509.Certificate]]:
    data = _read(path, "PKCS#12 file")
    if passphrase is None:
        raise IdentityInvalid(f"{path} needs a passphrase", reason=Reason.PASSPHRASE_MISSING)
    if not data.startswith(b"\x30"):
        raise IdentityInvalid(f"{path} is not a PKCS#12 file", reason=Reason.UNREADABLE)
    try:
        bundle = pkcs12.load_pkcs12(data, passphrase)
    except (ValueError, TypeError):
        raise IdentityInvalid(
            f"cannot open {path}: wrong passphrase?", reason=Reason.WRONG_PASSPHRASE
        ) from None
    if bundle.key is None or bundle.cert is None:
        raise IdentityInvalid(
            f"{path} lacks a private key or certificate", reason=Reason.UNREADABLE
        )
    extra = [c.certificate for c in bundle.additional_certs]
    return _usable(bundle.key, path), bundle.cert.certificate, extra


def load_identity(
    *,
    key: Path | None = None,
    cert: Path | None = None,
    chain: Sequence[Path] = (),
    pkcs12: Path | None = None,
    passphrase: bytes | None,
    at: datetime | None = None,
) -> SigningIdentity:
    """Load the signing identity from ``key`` + ``cert`` (+ ``chain`` PEM files) or from
    ``pkcs12`` (its extra certificates form the chain, plus any ``chain`` files).
    With ``at``, refuse a certificate that is not valid at that moment."""
    if (pkcs12 is None) == (key is None):
        raise IdentityInvalid(
            "give either a key file (with its certificate) or a PKCS#12 file",
            reason=Reason.UNREADABLE,
        )
    extra: list[x509.Certificate] = []
    if pkcs12 is not None:
        signing_key, certificate, extra = _load_pkcs12(pkcs12, passphrase)
        source = pkcs12
    else:
        assert key is not None  # noqa: S101 - checked above
        if cert is None:
            raise IdentityInvalid("a key file needs its certificate", reason=Reason.UNREADABLE)
        signing_key = _load_pem_key(key, passphrase)
        certs = _certs(cert, "certificate file")
        certificate, extra = certs[0], certs[1:]  # a cert file may carry the chain too
        source = key
    for path in chain:
        extra += _certs(path, "chain file")
    if signing_key.public_key() != certificate.public_key():
        raise IdentityInvalid(
            f"the key in {source} does not belong to the certificate", reason=Reason.KEY_MISMATCH
        )
    if at is not None:
        if at < certificate.not_valid_before_utc:
            raise IdentityInvalid(
                "the signing certificate is not valid yet", reason=Reason.NOT_YET_VALID
            )
        if at > certificate.not_valid_after_utc:
            raise IdentityInvalid("the signing certificate has expired", reason=Reason.EXPIRED)
    chain_certs = tuple(dict.fromkeys(c for c in extra if c != certificate))
    return SigningIdentity(key=signing_key, certificate=certificate, chain=chain_certs)
