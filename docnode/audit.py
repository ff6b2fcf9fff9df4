"""The auditor's verification report (pyHanko's status + reason reports).

Built in ONE place, :func:`report_from`, from a :class:`docnode.verification.CheckOutcome`
(the result or the failing step's error together with everything established before it).
The CLI (``docnode verify``), the clerk API and the page all show this same record.

Status rules:
- PASSED: every step passed.
- INDETERMINATE: the packet may be fine, but a required fact could not be established
  (revocation data missing/stale/unreachable). Not a pass: exit 1, retryable 503 on receive.
- FAILED: a step failed; ``code`` (and ``reason`` for certificate failures) says which.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from docnode import errors
from docnode.verification import CheckOutcome
from envelopes.model import Edoc, StatusMessage
from keystore.errors import KeystoreError, RevocationUnknown
from keystore.trust import RevocationState, RevocationStatus


class Status(StrEnum):
    PASSED = "PASSED"
    FAILED = "FAILED"
    INDETERMINATE = "INDETERMINATE"


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    subject: str
    """RFC 4514 subject of the certificate."""
    issuer: str
    """RFC 4514 issuer."""
    serial: str
    """Serial number, hex."""
    not_before: str
    """Start of validity, ISO 8601 UTC."""
    not_after: str
    """End of validity, ISO 8601 UTC."""
    sha256: str
    """SHA-256 fingerprint of the DER certificate, hex."""
    organization_identifier: str | None
    """The subject's organizationIdentifier (OID 2.5.4.97), the OrganId a dev/agency CA
    writes; ``None`` when the certificate carries none."""


@dataclass(frozen=True, slots=True)
class AttachmentFacts:
    name: str
    """AttachmentName, the original file name."""
    size: int
    """Decoded size in bytes (after base64 and unzip)."""
    content_type: str
    """ContentType as declared in the packet."""


@dataclass(frozen=True, slots=True)
class VerificationReport:
    """One packet's verification, as an auditor reads it."""

    source: str
    """Where the packet came from (file name, peer, axis DocId)."""
    status: Status
    """PASSED / FAILED / INDETERMINATE (see the module rules)."""
    code: str | None
    """Stable error code of the failing step (``docnode/errors.py``), ``None`` if PASSED."""
    reason: str | None
    """Certificate sub-reason (``expired``, ``revoked``, ``untrusted_root`` …) when any."""
    message: str | None
    """Human explanation of the failure."""
    checked_at: str
    """The moment the checks were made as of (``--at``), ISO 8601."""
    packet_sha256: str
    """SHA-256 of the exact bytes checked."""
    size: int
    """Size of the packet in bytes."""
    steps_passed: tuple[str, ...]
    """Steps that passed, in order (size, parse, signature, schema, decode, trust, …)."""
    kind: str | None = None
    """``edoc`` or ``status``, once decoded."""
    document_id: str | None = None
    """The edoc's DocumentId, or the DocumentId a status answers."""
    from_organ_id: str | None = None
    """From/OrganId as the signed packet states it."""
    signer: CertificateFacts | None = None
    """The signing certificate, as sent in KeyInfo."""
    chain_sent: tuple[CertificateFacts, ...] = ()
    """Further certificates the signer sent (intermediates)."""
    signature_algorithm: str | None = None
    """SignatureMethod URI."""
    digest_algorithm: str | None = None
    """DigestMethod URI."""
    anchor: CertificateFacts | None = None
    """The trust anchor the path was built to."""
    path: tuple[str, ...] = ()
    """Subjects from the signer up to the anchor."""
    certificate_organ_ids: tuple[str, ...] = ()
    """OrganIds the certificate is bound to (organizationIdentifier or the trust map)."""
    revocation: str | None = None
    """Revocation result (``good via crl``, ``not checked: …``)."""
    sender_bound: bool | None = None
    """Whether From/OrganId is among the certificate's OrganIds."""
    unverified: bool = False
    """A legacy packet accepted without signature under ``legacy-allowed``."""
    attachments: tuple[AttachmentFacts, ...] = ()
    """Attachments of an edoc, decoded."""
    warnings: tuple[str, ...] = field(default=())
    """Lenient-mode repairs and other notes."""

    @property
    def ok(self) -> bool:
        return self.status is Status.PASSED

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


UNREADABLE = "(unreadable)"


def certificate_facts(cert: x509.Certificate) -> CertificateFacts:
    try:
        return _certificate_facts(cert)
    except ValueError:
        # cryptography decodes fields lazily: a certificate the sender put in KeyInfo (outside
        # the signature) may carry a corrupt subject or date that nobody needed before.
        return CertificateFacts(
            subject=UNREADABLE, issuer=UNREADABLE, serial=UNREADABLE, not_before=UNREADABLE,
            not_after=UNREADABLE,
            sha256=hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest(),
            organization_identifier=None,
        )


def _certificate_facts(cert: x509.Certificate) -> CertificateFacts:
    org_ids = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    org_id = org_ids[0].value if org_ids else None
    return CertificateFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        sha256=hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest(),
        organization_identifier=org_id if isinstance(org_id, str) else None,
    )


def _status_of(error: Exception | None) -> Status:
    if error is None:
        return Status.PASSED
    if isinstance(error, RevocationUnknown):
        return Status.INDETERMINATE
    return Status.FAILED


def _reason_of(error: Exception | None) -> str | None:
    if isinstance(error, KeystoreError) and error.reason is not None:
        return error.reason.value
    return None


def _code_of(error: Exception | None) -> str | None:
    return None if error is None else errors.spec_for(error).code


def describe_revocation(status: RevocationStatus) -> str:
    """``good (crl)``, ``unknown: no CRL or OCSP response covered the signer``, …"""
    if status.state is RevocationState.NOT_CHECKED:
        return f"not checked (revocation rule {status.rule.value})"
    if status.state is RevocationState.UNKNOWN:
        return (
            f"unknown: no CRL or OCSP response covered the signer "
            f"(rule {status.rule.value})"
        )
    return f"{status.state.value} ({status.source.value}, rule {status.rule.value})"


def report_from(outcome: CheckOutcome, *, source: str, at: datetime) -> VerificationReport:
    """THE report builder: every field from the outcome's facts and error."""
    facts = outcome.facts
    packet = facts.packet
    kind = document_id = None
    attachments: tuple[AttachmentFacts, ...] = ()
    if isinstance(packet, Edoc):
        kind, document_id = "edoc", packet.document_id
        attachments = tuple(
            AttachmentFacts(a.name, len(a.data), a.content_type) for a in packet.attachments
        )
    elif isinstance(packet, StatusMessage):
        kind, document_id = "status", packet.response_for.document_id
    validation = facts.validation
    revocation: str | None = None
    if validation is not None:
        revocation = describe_revocation(validation.revocation)
    elif facts.unverified:
        revocation = "not checked: unsigned legacy packet"
    return VerificationReport(
        source=source,
        status=_status_of(outcome.error),
        code=_code_of(outcome.error),
        reason=_reason_of(outcome.error),
        message=None if outcome.error is None else str(outcome.error),
        checked_at=at.isoformat(),
        packet_sha256=facts.packet_sha256,
        size=facts.size,
        steps_passed=tuple(facts.steps_passed),
        kind=kind,
        document_id=document_id,
        from_organ_id=facts.from_organ_id,
        signer=None if facts.signer_certificate is None
        else certificate_facts(facts.signer_certificate),
        chain_sent=tuple(certificate_facts(c) for c in facts.chain),
        signature_algorithm=facts.signature_algorithm,
        digest_algorithm=facts.digest_algorithm,
        anchor=None if validation is None else certificate_facts(validation.anchor),
        path=() if validation is None
        else tuple(c.subject.rfc4514_string() for c in validation.path),
        certificate_organ_ids=() if validation is None else tuple(validation.organ_ids),
        revocation=revocation,
        sender_bound=facts.sender_bound,
        unverified=facts.unverified,
        attachments=attachments,
        warnings=tuple(facts.warnings),
    )


def error_report(source: str, error: Exception, *, at: datetime) -> VerificationReport:
    """A report for a packet that could not even be read (missing file …)."""
    return VerificationReport(
        source=source,
        status=Status.FAILED,
        code=_code_of(error),
        reason=_reason_of(error),
        message=str(error),
        checked_at=at.isoformat(),
        packet_sha256="",
        size=0,
        steps_passed=(),
    )

