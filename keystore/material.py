"""Reading trust material (certificates, CRLs) and the revocation pointers of a certificate.

Folders are read one level deep; a folder may mix certificates and CRLs (PEM labels tell
them apart). Unreadable material is a TrustConfigInvalid naming the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keystore.errors import TrustConfigInvalid
from keystore.policy import TrustPolicy


def crl_signed_by(
    crl: x509.CertificateRevocationList, issuer: x509.Certificate, policy: TrustPolicy
) -> bool:
    if isinstance(crl.signature_hash_algorithm, hashes.SHA1 | hashes.MD5) and not policy.allow_sha1:
        return False
    try:
        ku = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.crl_sign:
            return False
    except x509.ExtensionNotFound:
        pass
    key = issuer.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return False
    try:
        return crl.is_signature_valid(key)
    except (UnsupportedAlgorithm, ValueError, TypeError):
        return False


def crl_reason(entry: x509.RevokedCertificate) -> str | None:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
    except x509.ExtensionNotFound:
        return None


def crl_urls(cert: x509.Certificate) -> tuple[str, ...]:
    """URLs of the certificate's CRL distribution points."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(
        name.value
        for point in points
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    )


def ocsp_urls(cert: x509.Certificate) -> tuple[str, ...]:
    """URLs of the certificate's OCSP responders (AIA)."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(
        d.access_location.value
        for d in aia
        if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    )


_CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")
_CRL_SUFFIXES = (".pem", ".crl", ".der")


def _files(paths: Iterable[Path], suffixes: tuple[str, ...], label: bytes) -> list[Path]:
    """Named files as given; in a folder, the files with a matching suffix whose PEM
    label (if PEM) is ``label`` — a folder may mix certificates and CRLs."""
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        for item in sorted(path.iterdir()):
            if item.suffix.lower() not in suffixes or not item.is_file():
                continue
            head = item.read_bytes()
            if b"-----BEGIN" not in head or b"-----BEGIN " + label in head:
                out.append(item)
    return out


def load_certificates(paths: Iterable[Path]) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for path in _files(paths, _CERT_SUFFIXES, b"CERTIFICATE-----"):
        try:
            data = path.read_bytes()
            certs += (
                x509.load_pem_x509_certificates(data)
                if b"-----BEGIN" in data
                else [x509.load_der_x509_certificate(data)]
            )
        except (OSError, ValueError) as exc:
            raise TrustConfigInvalid(f"cannot read certificate(s) from {path}: {exc}") from exc
    return certs


def load_crls(paths: Iterable[Path]) -> list[x509.CertificateRevocationList]:
    crls: list[x509.CertificateRevocationList] = []
    for path in _files(paths, _CRL_SUFFIXES, b"X509 CRL-----"):
        try:
            crls.append(load_crl(path.read_bytes()))
        except OSError as exc:
            raise TrustConfigInvalid(f"cannot read CRL from {path}: {exc}") from exc
    return crls


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL from PEM or DER bytes (TrustConfigInvalid when it is neither)."""
    try:
        return (
            x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
        )
    except ValueError as exc:
        raise TrustConfigInvalid(f"not a CRL: {exc}") from exc


def crl_covers(crl: x509.CertificateRevocationList, cert: x509.Certificate) -> bool:
    """Whether a complete CRL speaks for ``cert``: not a delta CRL, and any
    IssuingDistributionPoint scope (RFC 5280 §5.2.5) includes the certificate. Indirect
    and reason-partitioned CRLs are not used (we would need the full set)."""
    extensions = crl.extensions
    try:
        extensions.get_extension_for_class(x509.DeltaCRLIndicator)
        return False
    except x509.ExtensionNotFound:
        pass
    try:
        idp = extensions.get_extension_for_class(x509.IssuingDistributionPoint).value
    except x509.ExtensionNotFound:
        return True
    if idp.indirect_crl or idp.only_some_reasons or idp.only_contains_attribute_certs:
        return False
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if (idp.only_contains_ca_certs and not is_ca) or (idp.only_contains_user_certs and is_ca):
        return False
    if idp.full_name is None:
        return True
    scope = {n.value for n in idp.full_name if isinstance(n, x509.UniformResourceIdentifier)}
    return bool(scope & set(crl_urls(cert)))
