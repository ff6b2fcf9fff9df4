"""The development CA mints what the contract says a signing certificate carries."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keystore.ca import (
    CRL_FILE,
    PASSPHRASE_FILE,
    DevCA,
    KeyType,
    write_identity,
)
from keystore.errors import DevCaError
from keystore.trust import DOCUMENT_SIGNING

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> DevCA:
    return DevCA.init(tmp_path_factory.mktemp("ca") / "ca", now=NOW)


def test_signing_certificate_profile(ca: DevCA) -> None:
    cert = ca.issue_signing("000.00.00.G22", "Bộ Nội vụ", valid_from=NOW).certificate
    ext = cert.extensions
    ids = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    assert [a.value for a in ids] == ["000.00.00.G22"]
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.content_commitment
    assert not ku.value.key_cert_sign
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [DOCUMENT_SIGNING]
    dp = ext.get_extension_for_class(x509.CRLDistributionPoints).value
    assert dp[0].full_name == [x509.UniformResourceIdentifier(ca.crl_url)]
    assert ca.crl_url.startswith("file:") and ca.crl_url.endswith(CRL_FILE)
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.not_valid_before_utc == NOW
    assert cert.not_valid_after_utc == NOW + timedelta(days=365)
    cert.verify_directly_issued_by(ca.issuing)
    ca.issuing.verify_directly_issued_by(ca.root)


@pytest.mark.parametrize(
    ("key_type", "kind", "bits"),
    [
        (KeyType.P256, ec.EllipticCurvePublicKey, 256),
        (KeyType.RSA2048, rsa.RSAPublicKey, 2048),
        (KeyType.RSA3072, rsa.RSAPublicKey, 3072),
        (KeyType.INSECURE_RSA1024, rsa.RSAPublicKey, 1024),
    ],
)
def test_key_types(ca: DevCA, key_type: KeyType, kind: type[Any], bits: int) -> None:
    key = ca.issue_signing("G22", "x", valid_from=NOW, key_type=key_type).certificate.public_key()
    assert isinstance(key, kind)
    assert key.key_size == bits


def test_test_knobs(ca: DevCA) -> None:
    no_eku = ca.issue_signing("G22", "x", valid_from=NOW, eku=None).certificate
    with pytest.raises(x509.ExtensionNotFound):
        no_eku.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    client = ca.issue_signing(
        "G22", "x", valid_from=NOW, eku=[ExtendedKeyUsageOID.CLIENT_AUTH]
    ).certificate
    assert list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    no_nr = ca.issue_signing("G22", "x", valid_from=NOW, non_repudiation=False).certificate
    assert not no_nr.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    bare = ca.issue_signing("G22", "x", valid_from=NOW, crl_url=None).certificate
    with pytest.raises(x509.ExtensionNotFound):
        bare.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    ocsp = ca.issue_signing("G22", "x", valid_from=NOW, ocsp_url="http://127.0.0.1:1/o").certificate
    aia = ocsp.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert aia[0].access_location.value == "http://127.0.0.1:1/o"
    none = ca.issue_signing(None, "Foreign CA customer", valid_from=NOW).certificate
    assert not none.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    two = ca.issue_signing("G22", "x", valid_from=NOW, also_organ_ids=["H41"]).certificate
    assert len(two.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)) == 2


@pytest.mark.parametrize("key_type", [KeyType.P256, KeyType.RSA2048])
def test_sha1_knob_makes_a_verifiable_sha1_certificate(tmp_path: Path, key_type: KeyType) -> None:
    ca = DevCA.init(tmp_path / "ca", now=NOW, key_type=key_type)
    cert = ca.issue_signing("G22", "x", valid_from=NOW, insecure_sha1=True).certificate
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA1)
    # a real SHA-1 signature by the issuing CA (cryptography's own check refuses SHA-1)
    issuer_key = ca.issuing.public_key()
    if isinstance(issuer_key, rsa.RSAPublicKey):
        issuer_key.verify(
            cert.signature,
            cert.tbs_certificate_bytes,
            padding.PKCS1v15(),
            hashes.SHA1(),  # noqa: S303 - checking the knob
        )
    else:
        assert isinstance(issuer_key, ec.EllipticCurvePublicKey)
        issuer_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA1()))  # noqa: S303


def test_bad_input_is_a_dev_ca_error(ca: DevCA, tmp_path: Path) -> None:
    with pytest.raises(DevCaError) as info:
        ca.issue_signing("not an organ id", "x", valid_from=NOW)
    assert info.value.code == "dev_ca_error"
    with pytest.raises(DevCaError):
        ca.issue_signing("G22", "x", valid_from=NOW.replace(tzinfo=None))
    with pytest.raises(DevCaError):
        ca.issue_signing("G22", "x", valid_from=NOW, valid_until=NOW)
    with pytest.raises(DevCaError):
        DevCA.init(ca.directory, now=NOW)  # already there
    with pytest.raises(DevCaError):
        DevCA.load(tmp_path / "nothing")
    with pytest.raises(DevCaError):
        ca.issue_tls("node", valid_from=NOW)  # a server certificate needs a name
    other = DevCA.init(tmp_path / "other", now=NOW)
    stranger = other.issue_signing("G22", "x", valid_from=NOW).certificate
    with pytest.raises(DevCaError):
        ca.revoke(stranger, at=NOW)


def test_tls_certificates(ca: DevCA) -> None:
    cert = ca.issue_tls(
        "node1", valid_from=NOW, dns_names=["localhost"], ip_addresses=["127.0.0.1"], client=True
    ).certificate
    eku = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert eku == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]


def test_revocation_updates_the_crl_and_survives_reload(tmp_path: Path) -> None:
    ca = DevCA.init(tmp_path / "ca", now=NOW, ocsp_url="http://127.0.0.1:9/ocsp")
    leaf = ca.issue_signing("G22", "x", valid_from=NOW).certificate
    other = ca.issue_signing("G22", "y", valid_from=NOW).certificate
    published = x509.load_pem_x509_crl((tmp_path / "ca" / CRL_FILE).read_bytes())
    assert len(published) == 0
    later = NOW + timedelta(days=2)
    ca.revoke(leaf, at=later)
    ca.revoke(ca.issuing, at=later)  # the root's CRL covers the issuing CA
    published = x509.load_pem_x509_crl((tmp_path / "ca" / CRL_FILE).read_bytes())
    entry = published.get_revoked_certificate_by_serial_number(leaf.serial_number)
    assert entry is not None and entry.revocation_date_utc == later
    assert published.get_revoked_certificate_by_serial_number(other.serial_number) is None
    assert published.is_signature_valid(ca.issuing_key.public_key())
    assert published.last_update_utc == later
    assert published.next_update_utc == later + timedelta(days=7)

    reloaded = DevCA.load(tmp_path / "ca")
    assert reloaded.ocsp_url == "http://127.0.0.1:9/ocsp"
    assert reloaded.is_revoked(leaf.serial_number) == later
    crl = reloaded.crl(at=later + timedelta(days=1))
    assert crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None
    root_crl = reloaded.crl(at=later, root=True)
    root_key = ca.root.public_key()
    assert isinstance(root_key, ec.EllipticCurvePublicKey)
    assert root_crl.is_signature_valid(root_key)
    assert root_crl.get_revoked_certificate_by_serial_number(ca.issuing.serial_number)
    numbers = [
        c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        for c in (crl, reloaded.crl(at=later))
    ]
    assert numbers[1] > numbers[0]


def test_private_files_are_encrypted_and_owner_only(ca: DevCA, tmp_path: Path) -> None:
    for name in ("root-ca.key.pem", "issuing-ca.key.pem", PASSPHRASE_FILE):
        assert stat.S_IMODE((ca.directory / name).stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in (ca.directory / "root-ca.key.pem").read_bytes()
    issued = ca.issue_signing("G22", "x", valid_from=NOW)
    files = write_identity(issued, tmp_path / "id", passphrase=b"pw")
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(files.key.read_bytes(), b"pw")
    assert key.public_key() == issued.certificate.public_key()
    p12 = pkcs12.load_pkcs12(files.pkcs12.read_bytes(), b"pw")
    assert p12.cert is not None and p12.cert.certificate == issued.certificate
    assert [c.certificate for c in p12.additional_certs] == [ca.issuing]
    assert x509.load_pem_x509_certificates(files.chain.read_bytes()) == [ca.issuing]
    assert "PRIVATE" not in repr(issued)


def test_shared_pki_fixture(pki: Any) -> None:
    assert pki.valid.certificate.issuer == pki.issuing.subject
    assert pki.other_root.subject == pki.root.subject  # same names, different keys
    assert pki.other_root.public_key() != pki.root.public_key()
    assert pki.other_root_same_name.certificate.subject == pki.valid.certificate.subject
    assert pki.crl.get_revoked_certificate_by_serial_number(pki.revoked.certificate.serial_number)
    assert pki.expired.certificate.not_valid_after_utc < pki.at
    assert pki.not_yet_valid.certificate.not_valid_before_utc > pki.at
    assert pki.weak_key.certificate.public_key().key_size == 1024


def test_dev_ca_answers_ocsp_requests(tmp_path: Path) -> None:
    from cryptography.x509 import ocsp as x509_ocsp

    from keystore import ocsp

    ca = DevCA.init(tmp_path / "ca", now=NOW)
    good = ca.issue_signing("G22", "x", valid_from=NOW).certificate
    bad = ca.issue_signing("G22", "y", valid_from=NOW).certificate
    ca.revoke(bad, at=NOW + timedelta(hours=1))
    at = NOW + timedelta(hours=2)

    def status(cert: x509.Certificate, issuer: x509.Certificate) -> object:
        answer = ca.ocsp_response(ocsp.build_request(cert, issuer, nonce=b"n1"), at=at)
        return ocsp.check_response(answer, cert=cert, issuer=issuer, at=at, nonce=b"n1").status

    assert status(good, ca.issuing) is ocsp.OcspCertStatus.GOOD
    assert status(bad, ca.issuing) is ocsp.OcspCertStatus.REVOKED
    other = DevCA.init(tmp_path / "other", now=NOW)  # same issuer name, unknown key
    stranger = other.issue_signing("G22", "z", valid_from=NOW).certificate
    refused = x509_ocsp.load_der_ocsp_response(
        ca.ocsp_response(ocsp.build_request(stranger, other.issuing), at=at)
    )
    assert refused.response_status is x509_ocsp.OCSPResponseStatus.UNAUTHORIZED
    junk = x509_ocsp.load_der_ocsp_response(ca.ocsp_response(b"junk", at=at))
    assert junk.response_status is x509_ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    # a serial this CA never issued (a stale copy of the CA state answers "unknown")
    stale = DevCA.load(tmp_path / "ca")
    newer = ca.issue_signing("G22", "w", valid_from=NOW).certificate
    answer = stale.ocsp_response(ocsp.build_request(newer, ca.issuing), at=at)
    result = ocsp.check_response(answer, cert=newer, issuer=ca.issuing, at=at)
    assert result.status is ocsp.OcspCertStatus.UNKNOWN
