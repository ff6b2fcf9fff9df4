"""Keys and trust: the node's signing identity, trust anchors, path validation,
revocation (CRL, OCSP encoding) and a development CA. Synchronous; no network."""

from keystore.errors import KeystoreError, Reason

__all__ = ["KeystoreError", "Reason"]
