"""Revocation status of a validated path from the data given (rule 5 of keystore.trust).

Pure: CRLs and OCSP responses are inputs, fetching is :mod:`docnode.revocation`'s job.
OCSP first (fresher, per certificate), then the freshest CRL whose signature by the
issuer verifies and that is current at ``at`` (nextUpdate >= at; a CRL issued after
``at`` also speaks for it; delta, indirect and out-of-scope partitioned CRLs are not
used). An entry dated after ``at`` means "good at ``at``" and ends
the cache window there. Missing or stale data where the rule requires it →
RevocationUnknown (INDETERMINATE); a listed certificate → CertificateRevoked.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509

from keystore import ocsp
from keystore.binding import fingerprint
from keystore.errors import CertificateRevoked, Reason, RevocationUnknown
from keystore.material import crl_covers, crl_reason, crl_signed_by, crl_urls, ocsp_urls
from keystore.policy import RevocationRule, TrustPolicy


class RevocationState(StrEnum):
    GOOD = "good"
    UNKNOWN = "unknown"
    NOT_CHECKED = "not_checked"


class RevocationSource(StrEnum):
    CRL = "crl"
    OCSP = "ocsp"
    NONE = "none"


@dataclass(frozen=True)
class RevocationCheck:
    """Revocation status of one certificate of the path."""

    subject: str
    fingerprint: str
    state: RevocationState
    source: RevocationSource
    this_update: datetime | None = None
    next_update: datetime | None = None


@dataclass(frozen=True)
class RevocationStatus:
    rule: RevocationRule
    state: RevocationState
    """Of the leaf: good, unknown (best-effort without data) or not_checked (rule off)."""
    source: RevocationSource
    """Where the leaf's status came from."""
    checks: tuple[RevocationCheck, ...] = ()
    """Every certificate below the anchor that was looked at, leaf first."""


def check_revocation(
    path: tuple[x509.Certificate, ...],
    *,
    crls: Sequence[x509.CertificateRevocationList],
    at: datetime,
    policy: TrustPolicy,
    ocsp_responses: Sequence[bytes],
) -> tuple[RevocationStatus, datetime]:
    rule = policy.revocation
    window_end = datetime.max.replace(tzinfo=at.tzinfo)
    if rule is RevocationRule.OFF:
        none = RevocationStatus(rule, RevocationState.NOT_CHECKED, RevocationSource.NONE)
        return none, window_end
    leaf = path[0]
    if rule in (RevocationRule.REQUIRED, RevocationRule.REQUIRED_ALL) and not (
        crl_urls(leaf) or ocsp_urls(leaf)
    ):
        raise RevocationUnknown(
            "the certificate names no CRL distribution point and no OCSP responder",
            reason=Reason.NO_REVOCATION_SOURCE,
        )
    checks: list[RevocationCheck] = []
    for index, (cert, issuer) in enumerate(itertools.pairwise(path)):
        required = rule is RevocationRule.REQUIRED_ALL or (
            rule is RevocationRule.REQUIRED and index == 0
        )
        check, until = _status_of(
            crls=crls,
            cert=cert,
            issuer=issuer,
            at=at,
            policy=policy,
            ocsp_responses=ocsp_responses,
            required=required,
        )
        checks.append(check)
        window_end = min(window_end, until)
    first = checks[0]
    status = RevocationStatus(rule, first.state, first.source, tuple(checks))
    return status, window_end


def _status_of(
    *,
    crls: Sequence[x509.CertificateRevocationList],
    cert: x509.Certificate,
    issuer: x509.Certificate,
    at: datetime,
    policy: TrustPolicy,
    ocsp_responses: Sequence[bytes],
    required: bool,
) -> tuple[RevocationCheck, datetime]:
    subject, fp = cert.subject.rfc4514_string(), fingerprint(cert)
    end = datetime.max.replace(tzinfo=at.tzinfo)
    # OCSP first: fresher and per certificate
    for answer in ocsp.responses_for(
        ocsp_responses, cert=cert, issuer=issuer, at=at, allow_sha1=policy.allow_sha1
    ):
        if answer.status is ocsp.OcspCertStatus.UNKNOWN:
            continue
        revoked_at = answer.revoked_at
        if answer.status is ocsp.OcspCertStatus.REVOKED and revoked_at is not None:
            if revoked_at <= at:
                raise CertificateRevoked(
                    f"{subject} is revoked (OCSP)",
                    revoked_at=revoked_at,
                    crl_reason=answer.revocation_reason,
                )
            end = min(end, revoked_at)
        until = answer.next_update or answer.this_update + ocsp.DEFAULT_MAX_AGE
        check = RevocationCheck(
            subject, fp, RevocationState.GOOD, RevocationSource.OCSP,
            answer.this_update, answer.next_update,
        )  # fmt: skip
        return check, min(end, max(until, at))
    # then CRLs signed by the issuer
    candidates = [c for c in crls if c.issuer == issuer.subject and crl_covers(c, cert)]
    verified = [c for c in candidates if crl_signed_by(c, issuer, policy)]
    current = [c for c in verified if c.next_update_utc is not None and c.next_update_utc >= at]
    if current:
        crl = max(current, key=lambda c: c.last_update_utc)
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            if entry.revocation_date_utc <= at:
                raise CertificateRevoked(
                    f"{subject} is revoked (CRL)",
                    revoked_at=entry.revocation_date_utc,
                    crl_reason=crl_reason(entry),
                )
            end = min(end, entry.revocation_date_utc)
        next_update = crl.next_update_utc
        assert next_update is not None  # noqa: S101 - filtered above
        check = RevocationCheck(
            subject, fp, RevocationState.GOOD, RevocationSource.CRL,
            crl.last_update_utc, next_update,
        )  # fmt: skip
        return check, min(end, max(next_update, at))
    if required:
        if verified:
            raise RevocationUnknown(f"the CRL for {subject} is stale", reason=Reason.CRL_STALE)
        if ocsp_urls(cert) and not crl_urls(cert):  # only OCSP could have answered
            raise RevocationUnknown(
                f"no usable OCSP answer for {subject}", reason=Reason.OCSP_UNAVAILABLE
            )
        raise RevocationUnknown(f"no CRL for {subject}", reason=Reason.CRL_MISSING)
    unknown = RevocationCheck(subject, fp, RevocationState.UNKNOWN, RevocationSource.NONE)
    return unknown, end
