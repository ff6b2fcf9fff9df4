"""Trust anchors, path validation and revocation (work in progress: constants first)."""

from __future__ import annotations

from cryptography import x509

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
"""id-kp-documentSigning (RFC 9336): the EKU an agency signing certificate carries."""
