"""OCSP (RFC 6960) encoding and checking — pure: bytes in, typed values out, time passed in.

Fetching over HTTP lives in :mod:`docnode.revocation`; the responder-side builder here is
what tests and the dev CA use to answer requests.

Rules for accepting a response (:func:`check_response`):
1. responseStatus is ``successful``; anything else is OCSP_UNAVAILABLE (try again later).
2. It holds a SingleResponse for exactly this certificate (serial + issuer name/key hash).
3. It is signed by the issuer itself, or by a delegated responder certificate that the
   issuer signed directly and that carries the OCSPSigning EKU (RFC 6960 §4.2.2.2).
4. When the caller sent a nonce, a response carrying a nonce carries that one; a
   response without one (RFC 5019 pre-produced answers) passes unless ``require_nonce``.
5. It is current at ``at``: at <= nextUpdate (no nextUpdate: thisUpdate + ``max_age``).
   A response produced after ``at`` also speaks for ``at`` (an auditor checking an old
   packet holds newer evidence).
6. No SHA-1 signature unless ``allow_sha1``.
Broken or mismatching responses raise RevocationUnknown(OCSP_INVALID).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from keystore.errors import Reason, RevocationUnknown

DEFAULT_MAX_AGE = timedelta(days=1)
"""How long a response without nextUpdate counts as current."""


class OcspCertStatus(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


_STATUS = {
    ocsp.OCSPCertStatus.GOOD: OcspCertStatus.GOOD,
    ocsp.OCSPCertStatus.REVOKED: OcspCertStatus.REVOKED,
    ocsp.OCSPCertStatus.UNKNOWN: OcspCertStatus.UNKNOWN,
}


@dataclass(frozen=True)
class OcspResult:
    """What a checked OCSP response says about one certificate."""

    status: OcspCertStatus
    this_update: datetime
    next_update: datetime | None
    produced_at: datetime
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    responder: str = ""
    """Subject (RFC 4514) of the certificate that signed the response."""


@dataclass(frozen=True)
class OcspRequestInfo:
    """The parts of a request a responder needs."""

    serial_number: int
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    hash_algorithm: hashes.HashAlgorithm
    nonce: bytes | None


def build_request(
    cert: x509.Certificate, issuer: x509.Certificate, *, nonce: bytes | None = None
) -> bytes:
    """A DER OCSPRequest for ``cert``. CertID hashes use SHA-1 as RFC 6960/5019 responders
    expect; that hash only names the issuer, it protects nothing."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def parse_request(data: bytes) -> OcspRequestInfo:
    try:
        req = ocsp.load_der_ocsp_request(data)
        nonce: bytes | None
        try:
            nonce = req.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            nonce = None
        return OcspRequestInfo(
            req.serial_number, req.issuer_name_hash, req.issuer_key_hash, req.hash_algorithm, nonce
        )
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise RevocationUnknown("malformed OCSP request", reason=Reason.OCSP_INVALID) from exc


def request_matches(info: OcspRequestInfo, issuer: x509.Certificate) -> bool:
    """Whether a request names a certificate of ``issuer`` (responder side)."""
    name_hash, key_hash = _issuer_hashes(issuer, info.hash_algorithm)
    return (name_hash, key_hash) == (info.issuer_name_hash, info.issuer_key_hash)


def build_response(
    *,
    issuer: x509.Certificate,
    responder_cert: x509.Certificate,
    responder_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    status: OcspCertStatus,
    this_update: datetime,
    next_update: datetime | None,
    cert: x509.Certificate | None = None,
    request: OcspRequestInfo | None = None,
    revoked_at: datetime | None = None,
    revocation_reason: x509.ReasonFlags | None = None,
    nonce: bytes | None = None,
    produced_by_delegate: bool = False,
) -> bytes:
    """A signed DER OCSPResponse (responder side; tests and the dev CA) about ``cert``,
    or about the certificate a parsed ``request`` names (a responder knows serials, not
    certificates). When ``produced_by_delegate`` the responder certificate travels in the
    response."""
    cert_status = {v: k for k, v in _STATUS.items()}[status]
    revoked = status is OcspCertStatus.REVOKED
    revocation_time = revoked_at if revoked else None
    reason = revocation_reason if revoked else None
    builder = ocsp.OCSPResponseBuilder()
    if request is not None:
        builder = builder.add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number,
            algorithm=request.hash_algorithm,
            cert_status=cert_status,
            this_update=this_update,
            next_update=next_update,
            revocation_time=revocation_time,
            revocation_reason=reason,
        )
    elif cert is not None:
        builder = builder.add_response(
            cert=cert,
            issuer=issuer,
            algorithm=hashes.SHA1(),  # noqa: S303 - CertID naming hash, see build_request
            cert_status=cert_status,
            this_update=this_update,
            next_update=next_update,
            revocation_time=revocation_time,
            revocation_reason=reason,
        )
    else:
        raise TypeError("build_response needs `cert` or `request`")
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, responder_cert)
    if produced_by_delegate:
        builder = builder.certificates([responder_cert])
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    response = builder.sign(responder_key, hashes.SHA256())
    return response.public_bytes(serialization.Encoding.DER)


def build_error_response(status: ocsp.OCSPResponseStatus) -> bytes:
    """An unsuccessful OCSPResponse (e.g. ``UNAUTHORIZED`` for a foreign issuer)."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


def check_response(
    data: bytes,
    *,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    at: datetime,
    nonce: bytes | None = None,
    require_nonce: bool = False,
    allow_sha1: bool = False,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> OcspResult:
    """Check a DER OCSP response for ``cert`` (issued by ``issuer``) as of ``at``."""
    # (1) well-formed and successful
    try:
        response = ocsp.load_der_ocsp_response(data)
    except ValueError as exc:
        raise RevocationUnknown("malformed OCSP response", reason=Reason.OCSP_INVALID) from exc
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise RevocationUnknown(
            f"OCSP responder answered {response.response_status.name.lower()}",
            reason=Reason.OCSP_UNAVAILABLE,
        )
    # (2) the single response for this certificate
    single = _single_for(response, cert, issuer)
    # (3) signed by the issuer or a delegated responder
    signer = _responder(response, issuer, at)
    if isinstance(response.signature_hash_algorithm, hashes.SHA1 | hashes.MD5) and not allow_sha1:
        raise RevocationUnknown("OCSP response signed with SHA-1", reason=Reason.OCSP_INVALID)
    _verify(signer.public_key(), response)
    # (4) nonce
    if nonce is not None:
        try:
            echoed = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            echoed = None
        if (echoed is not None or require_nonce) and echoed != nonce:
            raise RevocationUnknown("OCSP nonce mismatch", reason=Reason.OCSP_INVALID)
    # (5) current at `at`
    this_update, next_update = single.this_update_utc, single.next_update_utc
    expires = next_update if next_update is not None else this_update + max_age
    if expires < at:  # a response produced after `at` always expires after it (rule 5)
        raise RevocationUnknown("OCSP response is stale", reason=Reason.OCSP_INVALID)
    reason = single.revocation_reason
    return OcspResult(
        status=_STATUS[single.certificate_status],
        this_update=this_update,
        next_update=next_update,
        produced_at=response.produced_at_utc,
        revoked_at=single.revocation_time_utc,
        revocation_reason=None if reason is None else reason.value,
        responder=signer.subject.rfc4514_string(),
    )


def _issuer_hashes(
    issuer: x509.Certificate, algorithm: hashes.HashAlgorithm
) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of a CertID for certificates of ``issuer``. The key
    hash (over the subjectPublicKey bits) comes from cryptography's own request builder:
    a request naming ``issuer`` as issuer carries exactly it."""
    try:
        req = ocsp.OCSPRequestBuilder().add_certificate(issuer, issuer, algorithm).build()
    except (ValueError, UnsupportedAlgorithm):
        return b"", b""
    name = hashes.Hash(algorithm)
    name.update(issuer.subject.public_bytes())
    return name.finalize(), req.issuer_key_hash


def _single_for(
    response: ocsp.OCSPResponse, cert: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPSingleResponse:
    for single in response.responses:
        if single.serial_number != cert.serial_number:
            continue
        if _issuer_hashes(issuer, single.hash_algorithm) == (
            single.issuer_name_hash,
            single.issuer_key_hash,
        ):
            return single
    raise RevocationUnknown(
        "OCSP response does not cover the certificate", reason=Reason.OCSP_INVALID
    )


def _names_responder(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    if response.responder_name is not None:
        return response.responder_name == cert.subject
    # ResponderID byKey is the SHA-1 of the key bits, as in a CertID (RFC 6960 §4.2.1)
    return response.responder_key_hash == _issuer_hashes(cert, hashes.SHA1())[1]  # noqa: S303


def _responder(
    response: ocsp.OCSPResponse, issuer: x509.Certificate, at: datetime
) -> x509.Certificate:
    if _names_responder(response, issuer):
        return issuer
    for candidate in response.certificates:
        if not _names_responder(response, candidate):
            continue
        try:
            candidate.verify_directly_issued_by(issuer)
            eku = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            continue
        valid = candidate.not_valid_before_utc <= at <= candidate.not_valid_after_utc
        if ExtendedKeyUsageOID.OCSP_SIGNING in eku and valid:
            return candidate
    raise RevocationUnknown(
        "OCSP response not signed by the issuer or an authorised responder",
        reason=Reason.OCSP_INVALID,
    )


def _verify(key: object, response: ocsp.OCSPResponse) -> None:
    algorithm = response.signature_hash_algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(
                response.signature, response.tbs_response_bytes, padding.PKCS1v15(), algorithm
            )
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(response.signature, response.tbs_response_bytes)
        else:
            raise InvalidSignature
    except InvalidSignature as exc:
        raise RevocationUnknown(
            "OCSP response signature invalid", reason=Reason.OCSP_INVALID
        ) from exc


def responses_for(
    responses: Sequence[bytes],
    *,
    cert: x509.Certificate,
    issuer: x509.Certificate,
    at: datetime,
    allow_sha1: bool = False,
) -> tuple[OcspResult, ...]:
    """Every response among ``responses`` that validly speaks for ``cert`` (others are
    ignored: a bundle may carry answers for several certificates)."""
    found: list[OcspResult] = []
    for data in responses:
        try:
            found.append(
                check_response(data, cert=cert, issuer=issuer, at=at, allow_sha1=allow_sha1)
            )
        except RevocationUnknown:
            continue
    return tuple(found)
