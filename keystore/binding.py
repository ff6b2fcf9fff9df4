"""Binding certificates to OrganIds (QCVN 102 agency codes).

Rule: an explicit binding from the trust configuration wins — by SHA-256 fingerprint
first, then by issuer + serial number (for national-CA certificates that carry no
``organizationIdentifier``); otherwise the subject's ``organizationIdentifier``
attributes (OID 2.5.4.97) are the OrganIds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from keystore.errors import TrustConfigInvalid


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint, lowercase hex without separators (the form used in config)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def normalize_fingerprint(text: str) -> str:
    value = text.replace(":", "").strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise TrustConfigInvalid(f"not a SHA-256 fingerprint: {text!r}")
    return value


@dataclass(frozen=True)
class OrganIdBinding:
    """One explicit binding of a certificate to OrganIds: by SHA-256 fingerprint, or by
    issuer (RFC 4514) + serial number."""

    organ_ids: tuple[str, ...]
    fingerprint: str | None = None
    issuer: x509.Name | None = None
    serial_number: int | None = None

    @classmethod
    def by_fingerprint(cls, fp: str, organ_ids: Sequence[str]) -> OrganIdBinding:
        return cls(organ_ids=tuple(organ_ids), fingerprint=normalize_fingerprint(fp))

    @classmethod
    def by_issuer_serial(cls, issuer: str, serial: int, organ_ids: Sequence[str]) -> OrganIdBinding:
        try:
            name = x509.Name.from_rfc4514_string(issuer)
        except ValueError as exc:
            raise TrustConfigInvalid(f"not an RFC 4514 name: {issuer!r}") from exc
        return cls(organ_ids=tuple(organ_ids), issuer=name, serial_number=serial)

    def matches(self, cert: x509.Certificate) -> bool:
        if self.fingerprint is not None:
            return self.fingerprint == fingerprint(cert)
        return self.issuer == cert.issuer and self.serial_number == cert.serial_number


def organ_ids_of(cert: x509.Certificate, mapping: Sequence[OrganIdBinding] = ()) -> tuple[str, ...]:
    """OrganIds bound to ``cert``: an explicit binding wins (config is deliberate);
    otherwise the subject's organizationIdentifier attributes (OID 2.5.4.97)."""
    for binding in mapping:
        if binding.fingerprint is not None and binding.matches(cert):
            return binding.organ_ids
    for binding in mapping:
        if binding.fingerprint is None and binding.matches(cert):
            return binding.organ_ids
    attrs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    return tuple(str(a.value) for a in attrs)


def organ_id_mapping_from(
    by_fingerprint: Mapping[str, Sequence[str]] | None = None,
    by_issuer_serial: Iterable[tuple[str, int, Sequence[str]]] = (),
) -> tuple[OrganIdBinding, ...]:
    """Config helper: ``{fingerprint: [OrganId, ...]}`` and ``(issuer, serial, ids)``."""
    return tuple(
        [OrganIdBinding.by_fingerprint(fp, ids) for fp, ids in (by_fingerprint or {}).items()]
        + [OrganIdBinding.by_issuer_serial(i, s, ids) for i, s, ids in by_issuer_serial]
    )
