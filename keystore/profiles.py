"""What the development CA's certificates look like (its profiles) — DEV/TEST ONLY.

An agency signing certificate: subject C=VN, O=name, organizationIdentifier=OrganId (OID
2.5.4.97, one per OrganId), CN=name; basicConstraints CA:false (critical); keyUsage
digitalSignature + nonRepudiation (critical); EKU documentSigning (RFC 9336); SKI/AKI; a
CRL distribution point and, when configured, an OCSP URL. A TLS certificate: serverAuth
and/or clientAuth with subjectAltNames. Test knobs (``KeyType.INSECURE_RSA1024``, other
EKUs, no nonRepudiation, :func:`resign_sha1`) mint the bad certificates the trust code
must refuse.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from keystore.errors import DevCaError
from keystore.policy import DOCUMENT_SIGNING

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

DEFAULT_CA_YEARS = 20
"""Validity of the dev root and issuing CA from ``now``."""

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


def key_usage(**flags: bool) -> x509.KeyUsage:
    """A KeyUsage with the named bits set (content_commitment = nonRepudiation)."""
    names = ("digital_signature", "content_commitment", "key_encipherment",
             "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
             "encipher_only", "decipher_only")  # fmt: skip
    return x509.KeyUsage(**{n: flags.get(n, False) for n in names})


def _ski(key: PrivateKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def ca_name(name: str, role: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} {role} (DEVELOPMENT ONLY)"),
        ]
    )


def ca_certificate(
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
            key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True),
            critical=True,
        )
        .add_extension(_ski(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if crl_url is not None:
        builder = builder.add_extension(crl_distribution_points(crl_url), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def crl_distribution_points(url: str) -> x509.CRLDistributionPoints:
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


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
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


def resign_sha1(cert: x509.Certificate, key: PrivateKey) -> x509.Certificate:
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


@dataclass(frozen=True)
class LeafProfile:
    """Subject and usages of one end-entity certificate."""

    subject: x509.Name
    key_usage: x509.KeyUsage
    eku: tuple[x509.ObjectIdentifier, ...] | None
    """None: no EKU extension (a test knob for signing certificates)."""
    san: x509.SubjectAlternativeName | None = None


def signing_profile(
    organ_ids: Sequence[str],
    name: str,
    *,
    eku: Sequence[x509.ObjectIdentifier] | None = (DOCUMENT_SIGNING,),
    non_repudiation: bool = True,
) -> LeafProfile:
    """An agency signing certificate's subject and usages (module docstring)."""
    for organ_id in organ_ids:
        if not _ORGAN_ID.match(organ_id):
            raise DevCaError(f"not an OrganId: {organ_id!r}")
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, i) for i in organ_ids]
    attrs += [x509.NameAttribute(NameOID.COMMON_NAME, name)]
    return LeafProfile(
        subject=x509.Name(attrs),
        key_usage=key_usage(digital_signature=True, content_commitment=non_repudiation),
        eku=None if eku is None else tuple(eku),
    )


def tls_profile(
    name: str,
    *,
    dns_names: Sequence[str],
    ip_addresses: Sequence[str],
    server: bool,
    client: bool,
    rsa_key: bool,
) -> LeafProfile:
    """A TLS server and/or client certificate's subject, usages and subjectAltNames."""
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
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    return LeafProfile(
        subject=subject,
        # keyEncipherment: RSA key exchange in older TLS
        key_usage=key_usage(digital_signature=True, key_encipherment=rsa_key),
        eku=tuple(usages),
        san=x509.SubjectAlternativeName(names) if names else None,
    )


def leaf_certificate(
    profile: LeafProfile,
    *,
    key: PrivateKey,
    issuer: x509.Certificate,
    issuer_key: PrivateKey,
    valid_from: datetime,
    valid_until: datetime,
    crl_url: str | None,
    ocsp_url: str | None,
) -> x509.Certificate:
    """Sign an end-entity certificate for ``profile`` (SHA-256)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(profile.subject)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(profile.key_usage, critical=True)
        .add_extension(_ski(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if profile.eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(profile.eku), critical=False)
    if profile.san is not None:
        builder = builder.add_extension(profile.san, critical=False)
    if crl_url is not None:
        builder = builder.add_extension(crl_distribution_points(crl_url), critical=False)
    if ocsp_url is not None:
        ocsp = x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
        )
        builder = builder.add_extension(x509.AuthorityInformationAccess([ocsp]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())
