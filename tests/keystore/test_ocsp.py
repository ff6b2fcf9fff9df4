"""Pure OCSP: requests, responder-side answers, and every acceptance rule of check_response."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keystore import ocsp
from keystore.ca import KeyType, generate_key
from keystore.errors import Reason, RevocationUnknown


def answer(pki: Any, cert: x509.Certificate, **kw: Any) -> bytes:
    args: dict[str, Any] = {
        "cert": cert,
        "issuer": pki.issuing,
        "responder_cert": pki.issuing,
        "responder_key": pki.ca.issuing_key,
        "status": ocsp.OcspCertStatus.GOOD,
        "this_update": pki.at - timedelta(minutes=5),
        "next_update": pki.at + timedelta(hours=4),
    }
    args.update(kw)
    return ocsp.build_response(**args)


def check(pki: Any, data: bytes, cert: x509.Certificate | None = None, **kw: Any) -> Any:
    cert = cert or pki.valid.certificate
    return ocsp.check_response(data, cert=cert, issuer=pki.issuing, at=kw.pop("at", pki.at), **kw)


def failure(pki: Any, data: bytes, **kw: Any) -> Reason | None:
    with pytest.raises(RevocationUnknown) as info:
        check(pki, data, **kw)
    assert info.value.code == "revocation_unknown"
    return info.value.reason


def test_request_round_trip(pki: Any) -> None:
    data = ocsp.build_request(pki.valid.certificate, pki.issuing, nonce=b"n" * 16)
    info = ocsp.parse_request(data)
    assert info.serial_number == pki.valid.certificate.serial_number
    assert info.nonce == b"n" * 16
    assert ocsp.request_matches(info, pki.issuing)
    assert not ocsp.request_matches(info, pki.other_ca.issuing)  # same name, other key
    with pytest.raises(RevocationUnknown) as err:
        ocsp.parse_request(b"junk")
    assert err.value.reason is Reason.OCSP_INVALID


def test_good_and_revoked(pki: Any) -> None:
    good = check(pki, answer(pki, pki.valid.certificate))
    assert good.status is ocsp.OcspCertStatus.GOOD
    assert good.this_update == pki.at - timedelta(minutes=5)
    assert good.responder == pki.issuing.subject.rfc4514_string()
    revoked = check(
        pki,
        answer(
            pki,
            pki.valid.certificate,
            status=ocsp.OcspCertStatus.REVOKED,
            revoked_at=pki.at - timedelta(days=1),
            revocation_reason=x509.ReasonFlags.key_compromise,
        ),
    )
    assert revoked.status is ocsp.OcspCertStatus.REVOKED
    assert revoked.revoked_at == pki.at - timedelta(days=1)
    assert revoked.revocation_reason == "keyCompromise"
    unknown = check(pki, answer(pki, pki.valid.certificate, status=ocsp.OcspCertStatus.UNKNOWN))
    assert unknown.status is ocsp.OcspCertStatus.UNKNOWN


def test_nonce(pki: Any) -> None:
    data = answer(pki, pki.valid.certificate, nonce=b"abc")
    assert check(pki, data, nonce=b"abc").status is ocsp.OcspCertStatus.GOOD
    assert failure(pki, data, nonce=b"xyz") is Reason.OCSP_INVALID
    # a responder that ignores nonces (RFC 5019) passes unless the caller insists
    plain = answer(pki, pki.valid.certificate)
    assert check(pki, plain, nonce=b"abc").status is ocsp.OcspCertStatus.GOOD
    assert failure(pki, plain, nonce=b"abc", require_nonce=True) is Reason.OCSP_INVALID


def test_freshness(pki: Any) -> None:
    data = answer(pki, pki.valid.certificate)
    assert failure(pki, data, at=pki.at + timedelta(hours=5)) is Reason.OCSP_INVALID
    # a response produced after `at` speaks for it (auditing an old packet)
    check(pki, data, at=pki.at - timedelta(days=30))
    no_next = answer(pki, pki.valid.certificate, next_update=None)
    check(pki, no_next, at=pki.at + timedelta(hours=20))
    assert failure(pki, no_next, at=pki.at + timedelta(days=2)) is Reason.OCSP_INVALID


def test_wrong_certificate_or_signer(pki: Any) -> None:
    other = answer(pki, pki.valid_rsa.certificate)
    assert failure(pki, other) is Reason.OCSP_INVALID
    forged = ocsp.build_response(
        cert=pki.valid.certificate,
        issuer=pki.issuing,
        responder_cert=pki.other_ca.issuing,  # look-alike issuer, other key
        responder_key=pki.other_ca.issuing_key,
        status=ocsp.OcspCertStatus.GOOD,
        this_update=pki.at,
        next_update=pki.at + timedelta(hours=1),
        produced_by_delegate=True,
    )
    assert failure(pki, forged) is Reason.OCSP_INVALID
    assert failure(pki, b"\x30\x03junk") is Reason.OCSP_INVALID


def test_unsuccessful_response_is_unavailable(pki: Any) -> None:
    data = ocsp.build_error_response(x509_ocsp.OCSPResponseStatus.TRY_LATER)
    assert failure(pki, data) is Reason.OCSP_UNAVAILABLE


def _delegate(pki: Any, *, eku: bool) -> tuple[x509.Certificate, Any]:
    key = generate_key(KeyType.P256)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OCSP responder")]))
        .issuer_name(pki.issuing.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(pki.at - timedelta(days=1))
        .not_valid_after(pki.at + timedelta(days=30))
    )
    if eku:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False
        )
    return builder.sign(pki.ca.issuing_key, hashes.SHA256()), key


@pytest.mark.parametrize("eku", [True, False])
def test_delegated_responder(pki: Any, eku: bool) -> None:
    cert, key = _delegate(pki, eku=eku)
    data = answer(pki, pki.valid.certificate, responder_cert=cert, responder_key=key,
                  produced_by_delegate=True)  # fmt: skip
    if eku:
        assert check(pki, data).responder == "CN=OCSP responder"
    else:
        assert failure(pki, data) is Reason.OCSP_INVALID


def test_responses_for_picks_the_matching_ones(pki: Any) -> None:
    bundle = [answer(pki, pki.valid_rsa.certificate), b"junk", answer(pki, pki.valid.certificate)]
    found = ocsp.responses_for(bundle, cert=pki.valid.certificate, issuer=pki.issuing, at=pki.at)
    assert len(found) == 1
