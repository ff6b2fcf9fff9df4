"""The frozen trust policy: what this node accepts from a signer (STYLE §3).

Built from the ``[trust]`` config section or constructed directly in tests; a
contradictory policy fails at construction (no EKU accepted and none allow-listed).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509

from keystore.binding import OrganIdBinding, normalize_fingerprint
from keystore.errors import TrustConfigInvalid

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
"""id-kp-documentSigning (RFC 9336): the EKU an agency signing certificate carries."""


class RevocationRule(StrEnum):
    REQUIRED = "required"
    REQUIRED_ALL = "required-all"
    BEST_EFFORT = "best-effort"
    OFF = "off"


@dataclass(frozen=True)
class TrustPolicy:
    """What this node accepts from a signer. Built from ``[trust]`` config or directly."""

    revocation: RevocationRule = RevocationRule.REQUIRED
    """How revocation is checked (DESIGN §7)."""
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256
    allow_sha1: bool = False
    """LEGACY: accept SHA-1 signatures on the path (results are marked ``legacy``)."""
    accepted_ekus: frozenset[str] = frozenset({DOCUMENT_SIGNING.dotted_string})
    """Dotted EKU OIDs a signing leaf may carry (any one suffices)."""
    eku_allow_list: frozenset[str] = frozenset()
    """SHA-256 fingerprints of leaves or CAs whose certificates need no accepted EKU."""
    organ_id_mapping: tuple[OrganIdBinding, ...] = ()
    require_non_repudiation: bool = True
    require_organ_id: bool = True

    def __post_init__(self) -> None:
        if not self.accepted_ekus and not self.eku_allow_list:
            raise TrustConfigInvalid("no accepted EKU and an empty EKU allow-list")
        if self.min_rsa_bits < 1024 or self.min_ec_bits < 160:
            raise TrustConfigInvalid("minimum key sizes below any sane floor")
        object.__setattr__(
            self, "eku_allow_list", frozenset(normalize_fingerprint(f) for f in self.eku_allow_list)
        )


DEFAULT_TRUST_POLICY = TrustPolicy()
"""documentSigning EKU, RSA >= 2048, EC >= 256, no SHA-1, revocation required."""
