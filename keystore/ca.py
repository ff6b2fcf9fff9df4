"""A DEVELOPMENT certificate authority — for demos and tests, NEVER for production.

It mints a root CA, an intermediate "agency issuing CA", agency signing certificates
and TLS server/client certificates, and issues CRLs. Its private keys are encrypted, but
the passphrase sits in a file (``passphrase``, mode 0600) in the same directory: that is
acceptable for a throw-away dev CA and for nothing else. Real agencies get their
certificates from a national CA.

Rules:
1. Time is a parameter (``now``/``at``/``valid_from``); nothing here reads the clock.
2. An agency signing certificate carries the OrganId in the subject attribute
   ``organizationIdentifier`` (OID 2.5.4.97), keyUsage digitalSignature + nonRepudiation
   (critical), EKU documentSigning (1.3.6.1.5.5.7.3.36, RFC 9336), a CRL distribution
   point and, when configured, an OCSP URL.
3. State (issued serials, revocations, CRL numbers) is JSON in ``state.json``, written
   atomically; revoking a certificate re-publishes ``crl.pem``/``root-crl.pem``.
4. The knobs that mint bad certificates (``KeyType.INSECURE_RSA1024``, ``eku=``,
   ``non_repudiation=False``, ``insecure_sha1=True``) exist for tests of the trust code.

Files in a CA directory: ``root-ca.pem``, ``root-ca.key.pem``, ``issuing-ca.pem``,
``issuing-ca.key.pem``, ``crl.pem`` (issuing CA's CRL), ``root-crl.pem`` (root's CRL,
covering the issuing CA), ``state.json``, ``passphrase``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from keystore.errors import DevCaError
from keystore.policy import DOCUMENT_SIGNING

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

ROOT_CERT = "root-ca.pem"
ROOT_KEY = "root-ca.key.pem"
ISSUING_CERT = "issuing-ca.pem"
ISSUING_KEY = "issuing-ca.key.pem"
CRL_FILE = "crl.pem"
ROOT_CRL_FILE = "root-crl.pem"
STATE_FILE = "state.json"
PASSPHRASE_FILE = "passphrase"  # noqa: S105 - a file name; the dev CA's key passphrase lives there

DEFAULT_CA_YEARS = 20
"""Validity of the dev root and issuing CA from ``now``."""
DEFAULT_LEAF_DAYS = 365
"""Validity of a leaf certificate when ``valid_until`` is not given."""
DEFAULT_CRL_DAYS = 7
"""nextUpdate - thisUpdate of the CRLs this CA issues."""

_ORGAN_ID = re.compile(r"^[A-Z0-9.]{1,35}$")  # QCVN 102 OrganId characters (spec §1)


class KeyType(StrEnum):
    """Key algorithms the dev CA mints. ``INSECURE_RSA1024`` exists only for tests."""

    P256 = "p256"
    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    INSECURE_RSA1024 = "insecure-rsa1024"


def generate_key(key_type: KeyType) -> PrivateKey:
    if key_type is KeyType.P256:
        return ec.generate_private_key(ec.SECP256R1())
    bits = {KeyType.RSA2048: 2048, KeyType.RSA3072: 3072, KeyType.INSECURE_RSA1024: 1024}
    return rsa.generate_private_key(public_exponent=65537, key_size=bits[key_type])


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


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret-bearing file readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def _write_atomic(path: Path, data: bytes) -> None:
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
    _write_private(files.key, issued.key_pem(passphrase))
    _write_private(files.pkcs12, issued.pkcs12(passphrase))
    files.cert.write_bytes(pem(issued.certificate))
    files.chain.write_bytes(b"".join(pem(c) for c in issued.chain))
    return files


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise DevCaError(f"{what} must be timezone-aware")
    return value


def _key_usage(**flags: bool) -> x509.KeyUsage:
    """A KeyUsage with the named bits set (content_commitment = nonRepudiation)."""
    names = ("digital_signature", "content_commitment", "key_encipherment",
             "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
             "encipher_only", "decipher_only")  # fmt: skip
    return x509.KeyUsage(**{n: flags.get(n, False) for n in names})


def _ski(key: PrivateKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def _ca_name(name: str, role: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} {role} (DEVELOPMENT ONLY)"),
        ]
    )


def _ca_cert(
    *,
    subject: x509.Name,
    key: PrivateKey,
    issuer: x509.Name,
    issuer_key: PrivateKey,
    now: datetime,
    path_length: int,
    crl_url: str | None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=365 * DEFAULT_CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            _key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True),
            critical=True,
        )
        .add_extension(_ski(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if crl_url is not None:
        builder = builder.add_extension(_crl_dp(crl_url), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _crl_dp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# AlgorithmIdentifier DER of the SHA-256 signatures we make and of their SHA-1 twins
# (cryptography >= 45 refuses to sign certificates with SHA-1, so the test knob re-signs
# the TBS by hand).
_SHA1_ALGID = {
    bytes.fromhex("300d06092a864886f70d01010b0500"): bytes.fromhex(
        "300d06092a864886f70d0101050500"
    ),
    bytes.fromhex("300a06082a8648ce3d040302"): bytes.fromhex("300906072a8648ce3d0401"),
}


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _der_content(tlv: bytes) -> bytes:
    first = tlv[1]
    start = 2 if first < 0x80 else 2 + (first & 0x7F)
    return tlv[start:]


def _resign_sha1(cert: x509.Certificate, key: PrivateKey) -> x509.Certificate:
    """Re-sign ``cert`` with SHA-1 (TEST KNOB: mints a weak-algorithm certificate)."""
    body = _der_content(cert.tbs_certificate_bytes)
    for old, new in _SHA1_ALGID.items():
        if old in body:
            tbs = _der(0x30, body.replace(old, new, 1))
            if isinstance(key, rsa.RSAPrivateKey):
                sig = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
            else:
                sig = key.sign(tbs, ec.ECDSA(hashes.SHA1()))  # noqa: S303
            return x509.load_der_x509_certificate(_der(0x30, tbs + new + _der(0x03, b"\x00" + sig)))
    raise DevCaError("cannot re-sign this certificate with SHA-1")


class DevCA:
    """A development CA living in a directory. Not thread-safe; one writer at a time."""

    def __init__(
        self,
        directory: Path,
        *,
        root: x509.Certificate,
        root_key: PrivateKey,
        issuing: x509.Certificate,
        issuing_key: PrivateKey,
        state: dict[str, object],
    ) -> None:
        self.directory = directory
        self.root = root
        self.issuing = issuing
        self._root_key = root_key
        self._issuing_key = issuing_key
        self._state = state

    def __repr__(self) -> str:
        return f"DevCA({str(self.directory)!r})"

    # -- creation and loading ---------------------------------------------------------

    @classmethod
    def init(
        cls,
        directory: Path,
        *,
        now: datetime,
        key_type: KeyType = KeyType.P256,
        name: str = "Docnode Development",
        crl_url: str | None = None,
        root_crl_url: str | None = None,
        ocsp_url: str | None = None,
    ) -> DevCA:
        """Create a new dev CA in ``directory`` (which must not hold one already).

        ``crl_url`` is the CRL distribution point put in leaf certificates (default: a
        ``file:`` URL of ``crl.pem``); ``ocsp_url`` an optional OCSP AIA URL.
        """
        _aware(now, "now")
        directory = directory.resolve()
        if (directory / STATE_FILE).exists():
            raise DevCaError(f"a dev CA already exists in {directory}")
        directory.mkdir(parents=True, exist_ok=True)
        passphrase = secrets.token_urlsafe(32).encode()
        _write_private(directory / PASSPHRASE_FILE, passphrase)
        root_key = generate_key(key_type)
        root_name = _ca_name(name, "Root CA")
        root = _ca_cert(
            subject=root_name,
            key=root_key,
            issuer=root_name,
            issuer_key=root_key,
            now=now,
            path_length=1,
            crl_url=None,
        )
        issuing_key = generate_key(key_type)
        root_crl = root_crl_url or (directory / ROOT_CRL_FILE).as_uri()
        issuing = _ca_cert(
            subject=_ca_name(name, "Agency Issuing CA"),
            key=issuing_key,
            issuer=root_name,
            issuer_key=root_key,
            now=now,
            path_length=0,
            crl_url=root_crl,
        )
        state: dict[str, object] = {
            "version": 1,
            "name": name,
            "crl_url": crl_url or (directory / CRL_FILE).as_uri(),
            "ocsp_url": ocsp_url,
            "crl_number": 0,
            "issued": {},
            "revoked": {},
        }
        enc = serialization.BestAvailableEncryption(passphrase)
        fmt = serialization.PrivateFormat.PKCS8
        for key, path in ((root_key, ROOT_KEY), (issuing_key, ISSUING_KEY)):
            pem_key = key.private_bytes(serialization.Encoding.PEM, fmt, enc)
            _write_private(directory / path, pem_key)
        (directory / ROOT_CERT).write_bytes(pem(root))
        (directory / ISSUING_CERT).write_bytes(pem(issuing))
        ca = cls(
            directory,
            root=root,
            root_key=root_key,
            issuing=issuing,
            issuing_key=issuing_key,
            state=state,
        )
        ca.publish_crls(at=now)
        return ca

    @classmethod
    def load(cls, directory: Path) -> DevCA:
        """Open an existing dev CA (reads its passphrase file)."""
        directory = directory.resolve()
        try:
            passphrase = (directory / PASSPHRASE_FILE).read_bytes().strip()
            state = json.loads((directory / STATE_FILE).read_text("utf-8"))
            root = x509.load_pem_x509_certificate((directory / ROOT_CERT).read_bytes())
            issuing = x509.load_pem_x509_certificate((directory / ISSUING_CERT).read_bytes())
            keys = [
                serialization.load_pem_private_key((directory / p).read_bytes(), passphrase)
                for p in (ROOT_KEY, ISSUING_KEY)
            ]
        except (OSError, ValueError, TypeError) as exc:
            # the message names the directory only, never the passphrase
            raise DevCaError(f"no usable dev CA in {directory}: {type(exc).__name__}") from exc
        root_key, issuing_key = keys
        if not isinstance(root_key, PrivateKey) or not isinstance(issuing_key, PrivateKey):
            raise DevCaError(f"unsupported key type in {directory}")
        if not isinstance(state, dict) or state.get("version") != 1:
            raise DevCaError(f"unknown state format in {directory / STATE_FILE}")
        return cls(
            directory,
            root=root,
            root_key=root_key,
            issuing=issuing,
            issuing_key=issuing_key,
            state=state,
        )

    # -- properties ---------------------------------------------------------------------

    @property
    def crl_url(self) -> str:
        return str(self._state["crl_url"])

    @property
    def ocsp_url(self) -> str | None:
        url = self._state.get("ocsp_url")
        return None if url is None else str(url)

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """What a leaf sends along: the issuing CA (the root is the trust anchor)."""
        return (self.issuing,)

    @property
    def issuing_key(self) -> PrivateKey:
        """The issuing CA's key (an OCSP responder built by tests signs with it)."""
        return self._issuing_key

    def _cas(self) -> tuple[tuple[str, x509.Certificate], ...]:
        return (("issuing", self.issuing), ("root", self.root))

    def _dict(self, key: str) -> dict[str, dict[str, str | None]]:
        value = self._state[key]
        assert isinstance(value, dict)  # noqa: S101 - shape fixed by init/load
        return value

    # -- issuing -----------------------------------------------------------------------

    def issue_signing(
        self,
        organ_id: str | None,
        name: str,
        *,
        valid_from: datetime,
        valid_until: datetime | None = None,
        key_type: KeyType = KeyType.P256,
        also_organ_ids: Sequence[str] = (),
        eku: Sequence[x509.ObjectIdentifier] | None = (DOCUMENT_SIGNING,),
        non_repudiation: bool = True,
        crl_url: str | None = "",
        ocsp_url: str | None = "",
        insecure_sha1: bool = False,
    ) -> Issued:
        """An agency signing certificate for ``organ_id`` (None: no organizationIdentifier,
        like a national CA's certificate needing an explicit mapping).

        Test knobs: ``eku=None`` omits the EKU extension, any other list replaces it;
        ``non_repudiation=False`` drops that key usage; ``crl_url=None`` /
        ``ocsp_url=None`` omit the CRL DP / OCSP URL ("" means the CA's configured URL);
        ``insecure_sha1=True`` signs with SHA-1 (the CA key must be RSA or P-256)."""
        ids = ([] if organ_id is None else [organ_id]) + list(also_organ_ids)
        for oid_text in ids:
            if not _ORGAN_ID.match(oid_text):
                raise DevCaError(f"not an OrganId: {oid_text!r}")
        attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
        attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)]
        attrs += [x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, i) for i in ids]
        attrs += [x509.NameAttribute(NameOID.COMMON_NAME, name)]
        key_usage = _key_usage(digital_signature=True, content_commitment=non_repudiation)
        return self._issue(
            x509.Name(attrs),
            key_type=key_type,
            valid_from=valid_from,
            valid_until=valid_until,
            key_usage=key_usage,
            eku=eku,
            san=None,
            crl_url=self.crl_url if crl_url == "" else crl_url,
            ocsp_url=self.ocsp_url if ocsp_url == "" else ocsp_url,
            kind="signing",
            insecure_sha1=insecure_sha1,
        )

    def issue_tls(
        self,
        name: str,
        *,
        valid_from: datetime,
        valid_until: datetime | None = None,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        server: bool = True,
        client: bool = False,
        key_type: KeyType = KeyType.P256,
    ) -> Issued:
        """A TLS certificate (server and/or client) with the given subjectAltNames."""
        if not server and not client:
            raise DevCaError("a TLS certificate must be for server, client or both")
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
        try:
            names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        except ValueError as exc:
            raise DevCaError(f"bad IP address: {exc}") from exc
        if server and not names:
            raise DevCaError("a TLS server certificate needs at least one DNS name or IP")
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        key_usage = _key_usage(
            digital_signature=True,
            key_encipherment=key_type is not KeyType.P256,  # RSA key exchange
        )
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        return self._issue(
            subject,
            key_type=key_type,
            valid_from=valid_from,
            valid_until=valid_until,
            key_usage=key_usage,
            eku=usages,
            san=x509.SubjectAlternativeName(names) if names else None,
            crl_url=self.crl_url,
            ocsp_url=self.ocsp_url,
            kind="tls",
            insecure_sha1=False,
        )

    def _issue(
        self,
        subject: x509.Name,
        *,
        key_type: KeyType,
        valid_from: datetime,
        valid_until: datetime | None,
        key_usage: x509.KeyUsage,
        eku: Sequence[x509.ObjectIdentifier] | None,
        san: x509.SubjectAlternativeName | None,
        crl_url: str | None,
        ocsp_url: str | None,
        kind: str,
        insecure_sha1: bool,
    ) -> Issued:
        _aware(valid_from, "valid_from")
        until = valid_until or valid_from + timedelta(days=DEFAULT_LEAF_DAYS)
        _aware(until, "valid_until")
        if until <= valid_from:
            raise DevCaError("valid_until must be after valid_from")
        key = generate_key(key_type)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.issuing.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid_from)
            .not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(key_usage, critical=True)
            .add_extension(_ski(key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._issuing_key.public_key()),
                critical=False,
            )
        )
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        if crl_url is not None:
            builder = builder.add_extension(_crl_dp(crl_url), critical=False)
        if ocsp_url is not None:
            aia = x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(ocsp_url),
                    )
                ]
            )
            builder = builder.add_extension(aia, critical=False)
        cert = builder.sign(self._issuing_key, hashes.SHA256())
        if insecure_sha1:
            cert = _resign_sha1(cert, self._issuing_key)
        self._dict("issued")[format(cert.serial_number, "x")] = {
            "kind": kind,
            "subject": cert.subject.rfc4514_string(),
            "not_after": cert.not_valid_after_utc.isoformat(),
        }
        self._save()
        return Issued(certificate=cert, key=key, chain=self.chain)

    # -- revocation --------------------------------------------------------------------

    def revoke(
        self,
        cert: x509.Certificate,
        *,
        at: datetime,
        reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise,
    ) -> None:
        """Revoke a certificate issued by this CA (a leaf, or the issuing CA itself) and
        re-publish the CRLs as of ``at``."""
        _aware(at, "at")
        which = next((n for n, ca in self._cas() if _issued_by(cert, ca)), None)
        if which is None:
            raise DevCaError("the certificate was not issued by this dev CA")
        self._dict("revoked")[format(cert.serial_number, "x")] = {
            "at": at.isoformat(),
            "reason": reason.value,
            "by": which,
        }
        self._save()
        self.publish_crls(at=at)

    def is_revoked(self, serial_number: int) -> datetime | None:
        entry = self._dict("revoked").get(format(serial_number, "x"))
        return None if entry is None else datetime.fromisoformat(str(entry["at"]))

    def crl(self, *, at: datetime, root: bool = False) -> x509.CertificateRevocationList:
        """A fresh CRL as of ``at`` from the issuing CA (``root=True``: from the root,
        covering the issuing CA). Valid for :data:`DEFAULT_CRL_DAYS`."""
        _aware(at, "at")
        number = int(str(self._state["crl_number"])) + 1
        self._state["crl_number"] = number
        self._save()
        signer, key = (self.root, self._root_key) if root else (self.issuing, self._issuing_key)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(signer.subject)
            .last_update(at)
            .next_update(at + timedelta(days=DEFAULT_CRL_DAYS))
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                critical=False,
            )
        )
        by = "root" if root else "issuing"
        for serial_hex, entry in self._dict("revoked").items():
            if entry["by"] != by:
                continue
            revoked = (
                x509.RevokedCertificateBuilder()
                .serial_number(int(serial_hex, 16))
                .revocation_date(datetime.fromisoformat(str(entry["at"])))
                .add_extension(x509.CRLReason(x509.ReasonFlags(entry["reason"])), critical=False)
                .build()
            )
            builder = builder.add_revoked_certificate(revoked)
        return builder.sign(key, hashes.SHA256())

    def publish_crls(self, *, at: datetime) -> tuple[Path, Path]:
        """Write ``crl.pem`` and ``root-crl.pem`` as of ``at`` (the file: CRL DPs)."""
        paths = (self.directory / CRL_FILE, self.directory / ROOT_CRL_FILE)
        for path, root in zip(paths, (False, True), strict=True):
            _write_atomic(path, self.crl(at=at, root=root).public_bytes(serialization.Encoding.PEM))
        return paths

    def _save(self) -> None:
        data = json.dumps(self._state, indent=2, sort_keys=True).encode()
        _write_atomic(self.directory / STATE_FILE, data)
