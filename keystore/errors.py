"""The error vocabulary of the keys-and-trust layer.

Each class has a stable ``code`` (shared with docnode's problem+json and CLI exit codes);
certificate failures also carry a ``reason`` from :class:`Reason` (pyHanko's status +
sub-indication). Structured fields first, message built in one place.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar


class Reason(StrEnum):
    """Why a certificate (or identity) was not accepted. Stable string values."""

    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    UNTRUSTED_ROOT = "untrusted_root"
    WRONG_KEY_USAGE = "wrong_key_usage"
    WRONG_EKU = "wrong_eku"
    WEAK_KEY = "weak_key"
    WEAK_ALGORITHM = "weak_algorithm"
    INVALID_CHAIN = "invalid_chain"
    NO_ORGAN_ID = "no_organ_id"
    REVOCATION_UNKNOWN = "revocation_unknown"
    NO_REVOCATION_SOURCE = "no_revocation_source"
    CRL_STALE = "crl_stale"
    CRL_MISSING = "crl_missing"
    OCSP_UNAVAILABLE = "ocsp_unavailable"
    OCSP_INVALID = "ocsp_invalid"
    WRONG_PASSPHRASE = "wrong_passphrase"  # noqa: S105 - a reason code, not a secret
    KEY_MISMATCH = "key_mismatch"
    UNREADABLE = "unreadable"
    KEY_NOT_ENCRYPTED = "key_not_encrypted"
    UNSUPPORTED_KEY = "unsupported_key"
    PASSPHRASE_MISSING = "passphrase_missing"  # noqa: S105 - a reason code, not a secret
    PASSPHRASE_AMBIGUOUS = "passphrase_ambiguous"  # noqa: S105 - a reason code, not a secret


class KeystoreError(Exception):
    """Base of every error raised by :mod:`keystore`."""

    code: ClassVar[str] = "keystore_error"
    title: ClassVar[str] = "Key or certificate error"

    def __init__(self, message: str, *, reason: Reason | None = None) -> None:
        self.message = message
        self.reason = reason
        super().__init__(message if reason is None else f"{message} [{reason.value}]")


class CertificateUntrusted(KeystoreError):
    """The path to a trust anchor cannot be built or a certificate on it fails policy."""

    code = "certificate_untrusted"
    title = "The signing certificate is not trusted"


class CertificateRevoked(KeystoreError):
    code = "certificate_revoked"
    title = "The signing certificate is revoked"

    def __init__(
        self,
        message: str,
        *,
        revoked_at: datetime | None = None,
        crl_reason: str | None = None,
    ) -> None:
        self.revoked_at = revoked_at
        self.crl_reason = crl_reason
        super().__init__(message, reason=Reason.REVOKED)


class RevocationUnknown(KeystoreError):
    """INDETERMINATE: required revocation data is missing, stale or unreachable.
    Not a failure of the certificate: the receiver answers with a retryable 503."""

    code = "revocation_unknown"
    title = "The revocation status of the signing certificate cannot be established"


class IdentityInvalid(KeystoreError):
    """This node's own signing identity cannot be used (wrong passphrase, key/cert
    mismatch, expired certificate, unreadable file)."""

    code = "identity_invalid"
    title = "The node's signing identity cannot be used"


class TrustConfigInvalid(KeystoreError):
    """Contradictory or empty trust material (no anchors, required revocation without a
    source, unreadable CRL)."""

    code = "trust_config_invalid"
    title = "The trust configuration is invalid"


class DevCaError(KeystoreError):
    code = "dev_ca_error"
    title = "Development CA error"


def all_error_classes() -> list[type[KeystoreError]]:
    seen: list[type[KeystoreError]] = []
    stack: list[type[KeystoreError]] = [KeystoreError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
