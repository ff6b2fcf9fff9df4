"""A DEVELOPMENT certificate authority — for demos and tests, NEVER for production.

It mints a root CA, an intermediate "agency issuing CA", agency signing certificates
and TLS server/client certificates, and issues CRLs. Its private keys are encrypted, but
the passphrase sits in a file (``passphrase``, mode 0600) in the same directory: that is
acceptable for a throw-away dev CA and for nothing else. Real agencies get their
certificates from a national CA.

Rules:
1. Time is a parameter (``now``/``at``/``valid_from``); nothing here reads the clock.
2. An agency signing certificate carries the OrganId in the subject attribute
   ``organizationIdentifier`` (OID 2.5.4.97), keyUsage digitalSignature + nonRepudiation
   (critical), EKU documentSigning (1.3.6.1.5.5.7.3.36, RFC 9336), a CRL distribution
   point and, when configured, an OCSP URL.
3. State (issued serials, revocations, CRL numbers) is JSON in ``state.json``, written
   atomically; revoking a certificate re-publishes ``crl.pem``/``root-crl.pem``.
4. The knobs that mint bad certificates (``KeyType.INSECURE_RSA1024``, ``eku=``,
   ``non_repudiation=False``, ``insecure_sha1=True``) exist for tests of the trust code.

Layout: certificate profiles (and the SHA-1 knob) live in :mod:`keystore.profiles`,
:class:`Issued`/:func:`write_identity` in :mod:`keystore.issued`; both re-exported here.

Files in a CA directory: ``root-ca.pem``, ``root-ca.key.pem``, ``issuing-ca.pem``,
``issuing-ca.key.pem``, ``crl.pem`` (issuing CA's CRL), ``root-crl.pem`` (root's CRL,
covering the issuing CA), ``state.json``, ``passphrase``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.ocsp import OCSPResponseStatus

from keystore import ocsp
from keystore.errors import DevCaError, RevocationUnknown
from keystore.issued import (
    ISSUING_CERT,
    IdentityFiles,
    Issued,
    pem,
    write_atomic,
    write_identity,
    write_private,
)
from keystore.policy import DOCUMENT_SIGNING
from keystore.profiles import (
    DEFAULT_CA_YEARS,
    KeyType,
    LeafProfile,
    PrivateKey,
    ca_certificate,
    ca_name,
    generate_key,
    issued_by,
    leaf_certificate,
    resign_sha1,
    signing_profile,
    tls_profile,
)

__all__ = [
    "DEFAULT_CA_YEARS",
    "DevCA",
    "IdentityFiles",
    "Issued",
    "KeyType",
    "PrivateKey",
    "generate_key",
    "pem",
    "write_identity",
]


ROOT_CERT = "root-ca.pem"
ROOT_KEY = "root-ca.key.pem"
ISSUING_KEY = "issuing-ca.key.pem"
CRL_FILE = "crl.pem"
ROOT_CRL_FILE = "root-crl.pem"
STATE_FILE = "state.json"
PASSPHRASE_FILE = "passphrase"  # noqa: S105 - a file name; the dev CA's key passphrase lives there

DEFAULT_LEAF_DAYS = 365
"""Validity of a leaf certificate when ``valid_until`` is not given."""
DEFAULT_CRL_DAYS = 7
"""nextUpdate - thisUpdate of the CRLs this CA issues."""


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise DevCaError(f"{what} must be timezone-aware")
    return value


class DevCA:
    """A development CA living in a directory. Not thread-safe; one writer at a time."""

    def __init__(
        self,
        directory: Path,
        *,
        root: x509.Certificate,
        root_key: PrivateKey,
        issuing: x509.Certificate,
        issuing_key: PrivateKey,
        state: dict[str, object],
    ) -> None:
        self.directory = directory
        self.root = root
        self.issuing = issuing
        self._root_key = root_key
        self._issuing_key = issuing_key
        self._state = state

    def __repr__(self) -> str:
        return f"DevCA({str(self.directory)!r})"

    # -- creation and loading ---------------------------------------------------------

    @classmethod
    def init(
        cls,
        directory: Path,
        *,
        now: datetime,
        key_type: KeyType = KeyType.P256,
        name: str = "Docnode Development",
        crl_url: str | None = None,
        root_crl_url: str | None = None,
        ocsp_url: str | None = None,
    ) -> DevCA:
        """Create a new dev CA in ``directory`` (which must not hold one already).

        ``crl_url`` is the CRL distribution point put in leaf certificates (default: a
        ``file:`` URL of ``crl.pem``); ``ocsp_url`` an optional OCSP AIA URL.
        """
        _aware(now, "now")
        directory = directory.resolve()
        if (directory / STATE_FILE).exists():
            raise DevCaError(f"a dev CA already exists in {directory}")
        directory.mkdir(parents=True, exist_ok=True)
        passphrase = secrets.token_urlsafe(32).encode()
        write_private(directory / PASSPHRASE_FILE, passphrase)
        root_key = generate_key(key_type)
        root_name = ca_name(name, "Root CA")
        root = ca_certificate(
            subject=root_name,
            key=root_key,
            issuer=root_name,
            issuer_key=root_key,
            now=now,
            path_length=1,
            crl_url=None,
        )
        issuing_key = generate_key(key_type)
        root_crl = root_crl_url or (directory / ROOT_CRL_FILE).as_uri()
        issuing = ca_certificate(
            subject=ca_name(name, "Agency Issuing CA"),
            key=issuing_key,
            issuer=root_name,
            issuer_key=root_key,
            now=now,
            path_length=0,
            crl_url=root_crl,
        )
        state: dict[str, object] = {
            "version": 1,
            "name": name,
            "crl_url": crl_url or (directory / CRL_FILE).as_uri(),
            "ocsp_url": ocsp_url,
            "crl_number": 0,
            "issued": {},
            "revoked": {},
        }
        enc = serialization.BestAvailableEncryption(passphrase)
        fmt = serialization.PrivateFormat.PKCS8
        for key, path in ((root_key, ROOT_KEY), (issuing_key, ISSUING_KEY)):
            pem_key = key.private_bytes(serialization.Encoding.PEM, fmt, enc)
            write_private(directory / path, pem_key)
        (directory / ROOT_CERT).write_bytes(pem(root))
        (directory / ISSUING_CERT).write_bytes(pem(issuing))
        ca = cls(
            directory,
            root=root,
            root_key=root_key,
            issuing=issuing,
            issuing_key=issuing_key,
            state=state,
        )
        ca.publish_crls(at=now)
        return ca

    @classmethod
    def load(cls, directory: Path) -> DevCA:
        """Open an existing dev CA (reads its passphrase file)."""
        directory = directory.resolve()
        try:
            passphrase = (directory / PASSPHRASE_FILE).read_bytes().strip()
            state = json.loads((directory / STATE_FILE).read_text("utf-8"))
            root = x509.load_pem_x509_certificate((directory / ROOT_CERT).read_bytes())
            issuing = x509.load_pem_x509_certificate((directory / ISSUING_CERT).read_bytes())
            keys = [
                serialization.load_pem_private_key((directory / p).read_bytes(), passphrase)
                for p in (ROOT_KEY, ISSUING_KEY)
            ]
        except (OSError, ValueError, TypeError) as exc:
            # the message names the directory only, never the passphrase
            raise DevCaError(f"no usable dev CA in {directory}: {type(exc).__name__}") from exc
        root_key, issuing_key = keys
        if not isinstance(root_key, PrivateKey) or not isinstance(issuing_key, PrivateKey):
            raise DevCaError(f"unsupported key type in {directory}")
        if not isinstance(state, dict) or state.get("version") != 1:
            raise DevCaError(f"unknown state format in {directory / STATE_FILE}")
        return cls(
            directory,
            root=root,
            root_key=root_key,
            issuing=issuing,
            issuing_key=issuing_key,
            state=state,
        )

    # -- properties ---------------------------------------------------------------------

    @property
    def crl_url(self) -> str:
        return str(self._state["crl_url"])

    @property
    def ocsp_url(self) -> str | None:
        url = self._state.get("ocsp_url")
        return None if url is None else str(url)

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """What a leaf sends along: the issuing CA (the root is the trust anchor)."""
        return (self.issuing,)

    @property
    def issuing_key(self) -> PrivateKey:
        """The issuing CA's key (an OCSP responder built by tests signs with it)."""
        return self._issuing_key

    def _cas(self) -> tuple[tuple[str, x509.Certificate], ...]:
        return (("issuing", self.issuing), ("root", self.root))

    def _dict(self, key: str) -> dict[str, dict[str, str | None]]:
        value = self._state[key]
        assert isinstance(value, dict)  # noqa: S101 - shape fixed by init/load
        return value

    # -- issuing -----------------------------------------------------------------------

    def issue_signing(
        self,
        organ_id: str | None,
        name: str,
        *,
        valid_from: datetime,
        valid_until: datetime | None = None,
        key_type: KeyType = KeyType.P256,
        also_organ_ids: Sequence[str] = (),
        eku: Sequence[x509.ObjectIdentifier] | None = (DOCUMENT_SIGNING,),
        non_repudiation: bool = True,
        crl_url: str | None = "",
        ocsp_url: str | None = "",
        insecure_sha1: bool = False,
    ) -> Issued:
        """An agency signing certificate for ``organ_id`` (None: no organizationIdentifier,
        like a national CA's certificate needing an explicit mapping).

        Test knobs: ``eku=None`` omits the EKU extension, any other list replaces it;
        ``non_repudiation=False`` drops that key usage; ``crl_url=None`` /
        ``ocsp_url=None`` omit the CRL DP / OCSP URL ("" means the CA's configured URL);
        ``insecure_sha1=True`` signs with SHA-1 (the CA key must be RSA or P-256)."""
        profile = signing_profile(
            ([] if organ_id is None else [organ_id]) + list(also_organ_ids),
            name,
            eku=eku,
            non_repudiation=non_repudiation,
        )
        return self._issue(
            profile,
            key_type=key_type,
            valid_from=valid_from,
            valid_until=valid_until,
            crl_url=self.crl_url if crl_url == "" else crl_url,
            ocsp_url=self.ocsp_url if ocsp_url == "" else ocsp_url,
            kind="signing",
            insecure_sha1=insecure_sha1,
        )

    def issue_tls(
        self,
        name: str,
        *,
        valid_from: datetime,
        valid_until: datetime | None = None,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        server: bool = True,
        client: bool = False,
        key_type: KeyType = KeyType.P256,
    ) -> Issued:
        """A TLS certificate (server and/or client) with the given subjectAltNames."""
        profile = tls_profile(
            name,
            dns_names=dns_names,
            ip_addresses=ip_addresses,
            server=server,
            client=client,
            rsa_key=key_type is not KeyType.P256,
        )
        return self._issue(
            profile,
            key_type=key_type,
            valid_from=valid_from,
            valid_until=valid_until,
            crl_url=self.crl_url,
            ocsp_url=self.ocsp_url,
            kind="tls",
            insecure_sha1=False,
        )

    def _issue(
        self,
        profile: LeafProfile,
        *,
        key_type: KeyType,
        valid_from: datetime,
        valid_until: datetime | None,
        crl_url: str | None,
        ocsp_url: str | None,
        kind: str,
        insecure_sha1: bool,
    ) -> Issued:
        _aware(valid_from, "valid_from")
        until = valid_until or valid_from + timedelta(days=DEFAULT_LEAF_DAYS)
        _aware(until, "valid_until")
        if until <= valid_from:
            raise DevCaError("valid_until must be after valid_from")
        key = generate_key(key_type)
        cert = leaf_certificate(
            profile,
            key=key,
            issuer=self.issuing,
            issuer_key=self._issuing_key,
            valid_from=valid_from,
            valid_until=until,
            crl_url=crl_url,
            ocsp_url=ocsp_url,
        )
        if insecure_sha1:
            cert = resign_sha1(cert, self._issuing_key)
        self._dict("issued")[format(cert.serial_number, "x")] = {
            "kind": kind,
            "subject": cert.subject.rfc4514_string(),
            "not_after": cert.not_valid_after_utc.isoformat(),
        }
        self._save()
        return Issued(certificate=cert, key=key, chain=self.chain)

    # -- revocation --------------------------------------------------------------------

    def revoke(
        self,
        cert: x509.Certificate,
        *,
        at: datetime,
        reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise,
    ) -> None:
        """Revoke a certificate issued by this CA (a leaf, or the issuing CA itself) and
        re-publish the CRLs as of ``at``."""
        _aware(at, "at")
        which = next((n for n, ca in self._cas() if issued_by(cert, ca)), None)
        if which is None:
            raise DevCaError("the certificate was not issued by this dev CA")
        self._dict("revoked")[format(cert.serial_number, "x")] = {
            "at": at.isoformat(),
            "reason": reason.value,
            "by": which,
        }
        self._save()
        self.publish_crls(at=at)

    def is_revoked(self, serial_number: int) -> datetime | None:
        entry = self._dict("revoked").get(format(serial_number, "x"))
        return None if entry is None else datetime.fromisoformat(str(entry["at"]))

    def crl(self, *, at: datetime, root: bool = False) -> x509.CertificateRevocationList:
        """A fresh CRL as of ``at`` from the issuing CA (``root=True``: from the root,
        covering the issuing CA). Valid for :data:`DEFAULT_CRL_DAYS`."""
        _aware(at, "at")
        number = int(str(self._state["crl_number"])) + 1
        self._state["crl_number"] = number
        self._save()
        signer, key = (self.root, self._root_key) if root else (self.issuing, self._issuing_key)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(signer.subject)
            .last_update(at)
            .next_update(at + timedelta(days=DEFAULT_CRL_DAYS))
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
                critical=False,
            )
        )
        by = "root" if root else "issuing"
        for serial_hex, entry in self._dict("revoked").items():
            if entry["by"] != by:
                continue
            revoked = (
                x509.RevokedCertificateBuilder()
                .serial_number(int(serial_hex, 16))
                .revocation_date(datetime.fromisoformat(str(entry["at"])))
                .add_extension(x509.CRLReason(x509.ReasonFlags(entry["reason"])), critical=False)
                .build()
            )
            builder = builder.add_revoked_certificate(revoked)
        return builder.sign(key, hashes.SHA256())

    def ocsp_response(
        self, request: bytes, *, at: datetime, validity: timedelta = timedelta(hours=1)
    ) -> bytes:
        """Answer a DER OCSP request from this CA's records as of ``at`` (what a dev
        OCSP responder serves): good, revoked, or unknown for serials it never issued;
        ``unauthorized`` for another issuer, ``malformedRequest`` for junk."""
        _aware(at, "at")
        try:
            info = ocsp.parse_request(request)
        except RevocationUnknown:
            return ocsp.build_error_response(OCSPResponseStatus.MALFORMED_REQUEST)
        if not ocsp.request_matches(info, self.issuing):
            return ocsp.build_error_response(OCSPResponseStatus.UNAUTHORIZED)
        serial = format(info.serial_number, "x")
        revoked = self._dict("revoked").get(serial)
        status = ocsp.OcspCertStatus.GOOD
        if serial not in self._dict("issued"):
            status = ocsp.OcspCertStatus.UNKNOWN
        elif revoked is not None and datetime.fromisoformat(str(revoked["at"])) <= at:
            status = ocsp.OcspCertStatus.REVOKED
        return ocsp.build_response(
            request=info,
            issuer=self.issuing,
            responder_cert=self.issuing,
            responder_key=self._issuing_key,
            status=status,
            this_update=at,
            next_update=at + validity,
            revoked_at=None if revoked is None else datetime.fromisoformat(str(revoked["at"])),
            revocation_reason=None if revoked is None else x509.ReasonFlags(revoked["reason"]),
            nonce=info.nonce,
        )

    def publish_crls(self, *, at: datetime) -> tuple[Path, Path]:
        """Write ``crl.pem`` and ``root-crl.pem`` as of ``at`` (the file: CRL DPs)."""
        paths = (self.directory / CRL_FILE, self.directory / ROOT_CRL_FILE)
        for path, root in zip(paths, (False, True), strict=True):
            write_atomic(path, self.crl(at=at, root=root).public_bytes(serialization.Encoding.PEM))
        return paths

    def _save(self) -> None:
        data = json.dumps(self._state, indent=2, sort_keys=True).encode()
        write_atomic(self.directory / STATE_FILE, data)
