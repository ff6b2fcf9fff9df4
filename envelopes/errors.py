"""The error vocabulary of the edXML format layer.

Contract (h11 style): parsing, validating or verifying ANY bytes either returns a value or
raises an :class:`EnvelopeError` subclass; any other exception escaping ``envelopes`` is a bug.

Every class carries a stable lower_snake_case ``code``. The codes are part of the public
interface: ``docnode`` maps them to HTTP problem+json, CLI exit codes and the auditor's
report (``docnode/errors.py`` holds that one table). Never rename a code; add a new class.

"Malformed" (the bytes are not a well-formed, schema-valid packet) is kept apart from
"untrustworthy" (the packet is well-formed but its signature does not hold), as sigstore
keeps ``InvalidBundle`` apart from ``VerificationError``.
"""

from __future__ import annotations

from typing import ClassVar


class EnvelopeError(Exception):
    """Base of every error raised by :mod:`envelopes`."""

    code: ClassVar[str] = "envelope_error"
    #: A one-line human title for the code; docnode's problem+json ``title``.
    title: ClassVar[str] = "Invalid edXML packet"

    def __init__(
        self,
        message: str,
        *,
        element: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        #: The element (local name or path) the problem is about, when known.
        self.element = element
        #: The 1-based source line, when known.
        self.line = line
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.element:
            where.append(f"element {self.element}")
        if self.line:
            where.append(f"line {self.line}")
        return f"{self.message} ({', '.join(where)})" if where else self.message


# --- malformed input ------------------------------------------------------------------


class MalformedXml(EnvelopeError):
    code = "malformed_xml"
    title = "The packet is not well-formed XML"


class ForbiddenXml(EnvelopeError):
    """DTDs, entity declarations/references, XInclude, external references."""

    code = "forbidden_xml"
    title = "The packet uses a forbidden XML construct (DTD, entity, XInclude)"


class TooLarge(EnvelopeError):
    code = "too_large"
    title = "The packet is larger than the configured limit"


class TooDeep(EnvelopeError):
    code = "too_deep"
    title = "The packet nests elements deeper than the configured limit"


class TooManyAttachments(EnvelopeError):
    code = "too_many_attachments"
    title = "The packet carries more attachments than the configured limit"


class AttachmentTooLarge(EnvelopeError):
    code = "attachment_too_large"
    title = "An attachment decodes to more than the configured limit"


class AttachmentInvalid(EnvelopeError):
    """Non-strict base64, a corrupt ZIP, a ZIP bomb, a ZIP with several entries."""

    code = "attachment_invalid"
    title = "An attachment cannot be decoded"


class ManifestMismatch(EnvelopeError):
    code = "manifest_mismatch"
    title = "Attachments and manifest references do not match one to one"


class NotEdxml(EnvelopeError):
    code = "not_edxml"
    title = "The document is not an edXML packet (root element or namespace)"


class SchemaInvalid(EnvelopeError):
    code = "schema_invalid"
    title = "The packet does not follow the edXML schema"


class InvalidOrganId(EnvelopeError):
    code = "invalid_organ_id"
    title = "An organisation identifier (OrganId) is not valid"


class InvalidField(EnvelopeError):
    """A model value breaks a QCVN 102 rule (length, format, code list)."""

    code = "invalid_field"
    title = "A packet field has an invalid value"


# --- untrustworthy input --------------------------------------------------------------


class SignatureMissing(EnvelopeError):
    code = "signature_missing"
    title = "The packet carries no XML signature"


class SignatureInvalid(EnvelopeError):
    """The signature value or a digest does not match the signed bytes."""

    code = "signature_invalid"
    title = "The XML signature does not verify"


class SignaturePolicyViolation(EnvelopeError):
    """Well-formed signature outside our policy: several signatures, a signature in the
    wrong place, a reference other than ``URI=""``, XPath/XSLT or other transforms,
    SHA-1 without the legacy flag, a key below the minimum size."""

    code = "signature_policy"
    title = "The XML signature does not follow the signature policy"


class ReceiptInvalid(EnvelopeError):
    code = "receipt_invalid"
    title = "The receipt does not confirm the packet that was sent"


def all_error_classes() -> list[type[EnvelopeError]]:
    """Every concrete error class of this package (used by the registry test)."""
    seen: list[type[EnvelopeError]] = []
    stack: list[type[EnvelopeError]] = [EnvelopeError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
