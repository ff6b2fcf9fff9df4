"""One registry of error codes for the whole product (X-Road's ErrorCode table).

``envelopes`` and ``keystore`` define their own error classes with stable ``code`` values;
``docnode`` adds its own below. :data:`REGISTRY` is the single table that maps every code to
its HTTP status, whether a sender should retry, and the CLI exit code. The clerk API,
the direct transport (RFC 9457 problem+json), the axis, the CLI and the auditor's report all
read this table; ``tests/test_errors.py`` proves every class has exactly one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from envelopes import errors as env_errors
from keystore import errors as ks_errors

# Exit codes (DESIGN §9): 0 ok, 1 a negative result, 2 usage, configuration or I/O.
EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


class DocnodeError(Exception):
    """Base of the daemon's own errors."""

    code: ClassVar[str] = "docnode_error"
    title: ClassVar[str] = "Node error"

    def __init__(self, message: str, *, detail: dict[str, object] | None = None) -> None:
        self.message = message
        #: Machine-readable extras for problem+json (never secrets).
        self.detail = detail or {}
        super().__init__(message)


class ConfigInvalid(DocnodeError):
    code = "config_invalid"
    title = "The configuration is invalid"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems), detail={"problems": problems})


class UsageError(DocnodeError):
    code = "usage_error"
    title = "The command was called wrongly"


class InputUnreadable(DocnodeError):
    """A file named on the command line or in the config cannot be read or written."""

    code = "io_error"
    title = "A file cannot be read or written"


class SenderMismatch(DocnodeError):
    code = "sender_mismatch"
    title = "The signer's certificate does not speak for the packet's sender (From/OrganId)"


class UnknownRecipient(DocnodeError):
    code = "unknown_recipient"
    title = "No route to a recipient"


class DuplicateConflict(DocnodeError):
    code = "duplicate_conflict"
    title = "A different packet with the same (From, DocumentId) was already received"


class StalePacket(DocnodeError):
    code = "stale_packet"
    title = "The packet's timestamp is outside the freshness window"


class UnsupportedMediaType(DocnodeError):
    code = "unsupported_media_type"
    title = "The request body has an unsupported media type or encoding"


class ValidationFailed(DocnodeError):
    code = "validation_failed"
    title = "The request has invalid fields"


class NotFound(DocnodeError):
    code = "not_found"
    title = "No such resource"


class Unauthorized(DocnodeError):
    code = "unauthorized"
    title = "Authentication is required"


class Forbidden(DocnodeError):
    code = "forbidden"
    title = "Not allowed for this caller"


class Conflict(DocnodeError):
    code = "conflict"
    title = "The request conflicts with the resource's state"


class MethodNotAllowed(DocnodeError):
    code = "method_not_allowed"
    title = "The resource does not support this HTTP method"


class PayloadTooLarge(DocnodeError):
    """A clerk API request body (an upload, metadata) is over its limit."""

    code = "payload_too_large"
    title = "The request body is too large"


class RateLimited(DocnodeError):
    code = "rate_limited"
    title = "Too many requests"


class StoreUnavailable(DocnodeError):
    code = "store_unavailable"
    title = "The store cannot be reached or is locked"


class QueueUnavailable(DocnodeError):
    code = "queue_unavailable"
    title = "The work queue cannot be reached"


class BlobIntegrityError(DocnodeError):
    """A stored payload blob does not hash to its name (corruption or tampering)."""

    code = "blob_integrity"
    title = "A stored payload does not match its digest"


class LeaseLost(DocnodeError):
    """A worker tried to finish a queue item whose lease another worker has taken over."""

    code = "lease_lost"
    title = "The queue item's lease has passed to another worker"


class PeerError(DocnodeError):
    """A peer or axis answered with an error or could not be reached."""

    code = "peer_error"
    title = "The peer could not take the packet"


class PeerUnavailable(PeerError):
    """A delivery attempt failed in a way worth retrying: timeout, connection error, 5xx, 429,
    or a response without a verifiable receipt. ``retry_after`` is the peer's hint (seconds)."""

    code = "peer_unavailable"
    title = "The peer could not be reached or asked us to try again later"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        detail: dict[str, object] | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, detail=detail)


class PeerRejected(PeerError):
    """The peer refused the packet for good (4xx other than 408/429): never retried."""

    code = "peer_rejected"
    title = "The peer refused the packet"


class AxisError(PeerError):
    """The VXP axis answered ``status`` FAIL (or an unreadable answer) for a reason worth
    retrying; ``detail["axis_code"]`` is the axis's ``ErrorCode``."""

    code = "axis_error"
    title = "The axis could not process the request"


class AxisAuthFailed(AxisError):
    """The axis refused our system id or the request's HMAC (or, on the axis, a client's)."""

    code = "axis_auth_failed"
    title = "The axis did not authenticate the request (system id or HMAC)"


class ReplayedRequest(AxisError):
    """The axis has seen this very signed request before (its seen-request cache)."""

    code = "replayed_request"
    title = "The signed request was already received once"


class StaleTimestamp(AxisAuthFailed):
    """A request timestamp never used by its system before, and outside the axis's window
    (``docnode.axis.timestamps``): a clock far off, or an old request replayed."""

    code = "stale_timestamp"
    title = "The request's timestamp is outside the axis's window"


class AxisRejected(PeerRejected):
    """The axis refused a packet for good (bad packet, sender not owned by the system, …)."""

    code = "axis_rejected"
    title = "The axis refused the packet"


class AxisRequestInvalid(DocnodeError):
    """A VXP request lacks a header, carries an unsigned parameter or a malformed body."""

    code = "axis_request_invalid"
    title = "The VXP request is malformed"


class InternalError(DocnodeError):
    code = "internal_error"
    title = "Internal error"


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """How one error code shows at every edge."""

    code: str
    http_status: int
    """Status of the problem+json answer."""
    retryable: bool
    """Whether a sender should try again later (5xx/429 semantics)."""
    exit_code: int
    """CLI exit code when this error ends a command."""


def _spec(
    code: str, status: int, *, retryable: bool = False, exit_code: int = EXIT_INVALID
) -> ErrorSpec:
    return ErrorSpec(code, status, retryable, exit_code)


REGISTRY: dict[str, ErrorSpec] = {
    s.code: s
    for s in (
        # envelopes: malformed input
        _spec("envelope_error", 400),
        _spec("malformed_xml", 400),
        _spec("forbidden_xml", 400),
        _spec("too_large", 413),
        _spec("too_deep", 400),
        _spec("too_many_attachments", 413),
        _spec("attachment_too_large", 413),
        _spec("attachment_invalid", 400),
        _spec("manifest_mismatch", 422),
        _spec("not_edxml", 400),
        _spec("schema_invalid", 422),
        _spec("invalid_organ_id", 422),
        _spec("invalid_field", 422),
        # envelopes: untrustworthy input
        _spec("signature_missing", 422),
        _spec("signature_invalid", 422),
        _spec("signature_policy", 422),
        _spec("receipt_invalid", 502, retryable=True),
        # keystore
        _spec("keystore_error", 422),
        _spec("certificate_untrusted", 422),
        _spec("certificate_revoked", 422),
        _spec("revocation_unknown", 503, retryable=True),
        _spec("identity_invalid", 500, retryable=True, exit_code=EXIT_USAGE),
        _spec("trust_config_invalid", 500, retryable=True, exit_code=EXIT_USAGE),
        _spec("dev_ca_error", 500, exit_code=EXIT_USAGE),
        # docnode
        _spec("docnode_error", 500, retryable=True, exit_code=EXIT_USAGE),
        _spec("config_invalid", 500, exit_code=EXIT_USAGE),
        _spec("usage_error", 400, exit_code=EXIT_USAGE),
        _spec("io_error", 500, retryable=True, exit_code=EXIT_USAGE),
        _spec("sender_mismatch", 403),
        _spec("unknown_recipient", 422),
        _spec("duplicate_conflict", 409),
        _spec("stale_packet", 422),
        _spec("unsupported_media_type", 415),
        _spec("validation_failed", 422),
        _spec("not_found", 404),
        _spec("unauthorized", 401),
        _spec("forbidden", 403),
        _spec("conflict", 409),
        _spec("method_not_allowed", 405),
        _spec("payload_too_large", 413),
        _spec("rate_limited", 429, retryable=True),
        _spec("store_unavailable", 503, retryable=True, exit_code=EXIT_USAGE),
        _spec("queue_unavailable", 503, retryable=True, exit_code=EXIT_USAGE),
        _spec("blob_integrity", 500, exit_code=EXIT_USAGE),
        _spec("lease_lost", 409),
        _spec("peer_error", 502, retryable=True),
        _spec("peer_unavailable", 503, retryable=True),
        _spec("peer_rejected", 502),
        _spec("axis_error", 502, retryable=True),
        _spec("axis_auth_failed", 502, retryable=True),
        _spec("replayed_request", 409),
        _spec("stale_timestamp", 502, retryable=True),
        _spec("axis_rejected", 422),
        _spec("axis_request_invalid", 400),
        _spec("internal_error", 500, retryable=True, exit_code=EXIT_USAGE),
    )
}

AnyError = env_errors.EnvelopeError | ks_errors.KeystoreError | DocnodeError


def spec_for(error: BaseException) -> ErrorSpec:
    """The registry row for an exception; unknown exceptions are internal errors."""
    if isinstance(error, env_errors.EnvelopeError | ks_errors.KeystoreError | DocnodeError):
        return REGISTRY[error.code]
    return REGISTRY["internal_error"]


def title_for(error: BaseException) -> str:
    title = getattr(error, "title", None)
    return title if isinstance(title, str) else "Internal error"


def all_docnode_error_classes() -> list[type[DocnodeError]]:
    seen: list[type[DocnodeError]] = []
    stack: list[type[DocnodeError]] = [DocnodeError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
