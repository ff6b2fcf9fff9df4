"""Trust anchors, certificate path validation and revocation for document signing.

A frozen :class:`TrustPolicy` says what is acceptable; a :class:`TrustStore` holds the
material (anchors, intermediates, CRLs) and a bounded cache of validation results.
Trust is never implicit: an empty anchor set is refused; certifi/OS stores are never used.

Rules of :meth:`TrustStore.validate` (each failure has its own ``Reason``):
0. ``at`` is timezone-aware; every time check is "as of ``at``".
1. The path to an anchor is built by ``cryptography.x509.verification`` with OUR extension
   policies: the stock client verifier demands clientAuth and accepts an RSA-1024 leaf.
   When it fails, a small walker names the cause: ``untrusted_root`` (no anchor signs the
   chain, e.g. a look-alike root with the same names), ``expired``/``not_yet_valid`` (of
   any certificate on the path), ``weak_algorithm`` (SHA-1), ``invalid_chain`` otherwise.
   With ``allow_sha1`` (legacy) a SHA-1 path the walker accepts passes, marked ``legacy``.
2. Every certificate on the path has RSA >= ``min_rsa_bits`` / EC >= ``min_ec_bits``
   (``weak_key``), checked here because cryptography does not check the leaf.
3. The leaf is an end entity with keyUsage digitalSignature (+ nonRepudiation unless the
   policy waives it) — else ``wrong_key_usage``; its EKU holds an accepted purpose
   (documentSigning; NOT clientAuth) unless the leaf or a CA on its path is on the EKU
   allow-list (national CAs without documentSigning) — else ``wrong_eku``.
4. OrganIds: explicit mapping first (fingerprint, then issuer+serial), else the subject's
   organizationIdentifier; none and ``require_organ_id`` → ``no_organ_id``.
5. Revocation (``RevocationRule``): OCSP responses given as input, else CRLs whose
   signature by the issuer verifies and that are current at ``at`` (nextUpdate >= at; a
   CRL issued after ``at`` also speaks for it). ``required``: the leaf must have a
   source (CRL DP or OCSP URL) and fresh data, CAs are checked where data exists;
   ``required-all``: every certificate below the anchor needs fresh data;
   ``best-effort``: use what is there; ``off``: nothing. Missing/stale data where required
   is INDETERMINATE → RevocationUnknown; a listed certificate → CertificateRevoked.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from keystore import ocsp
from keystore.errors import (
    CertificateRevoked,
    CertificateUntrusted,
    Reason,
    RevocationUnknown,
    TrustConfigInvalid,
)

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
"""id-kp-documentSigning (RFC 9336): the EKU an agency signing certificate carries."""

DEFAULT_CACHE_SIZE = 4096
"""Validation results kept per TrustStore (LRU)."""
CACHE_BUCKET = timedelta(minutes=5)
"""Results are cached per 5-minute slice of ``at`` (and only inside their validity window)."""
MAX_CHAIN_DEPTH = 6
"""Longest path the walker tries (leaf + CAs)."""


class RevocationRule(StrEnum):
    REQUIRED = "required"
    REQUIRED_ALL = "required-all"
    BEST_EFFORT = "best-effort"
    OFF = "off"


class RevocationState(StrEnum):
    GOOD = "good"
    UNKNOWN = "unknown"
    NOT_CHECKED = "not_checked"


class RevocationSource(StrEnum):
    CRL = "crl"
    OCSP = "ocsp"
    NONE = "none"


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint, lowercase hex without separators (the form used in config)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def _norm_fp(text: str) -> str:
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
        return cls(organ_ids=tuple(organ_ids), fingerprint=_norm_fp(fp))

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
            self, "eku_allow_list", frozenset(_norm_fp(f) for f in self.eku_allow_list)
        )


DEFAULT_TRUST_POLICY = TrustPolicy()
"""documentSigning EKU, RSA >= 2048, EC >= 256, no SHA-1, revocation required."""


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


@dataclass(frozen=True)
class ValidationResult:
    """What was verified about a signer's certificate — and nothing else."""

    anchor: x509.Certificate
    """The trust anchor the path ends at."""
    path: tuple[x509.Certificate, ...]
    """Leaf first, anchor last."""
    organ_ids: tuple[str, ...]
    """OrganIds bound to the leaf (mapping or organizationIdentifier)."""
    revocation: RevocationStatus
    checked_at: datetime
    legacy: bool = False
    """True when SHA-1 signatures were accepted under ``allow_sha1``."""

    @property
    def leaf(self) -> x509.Certificate:
        return self.path[0]


@dataclass(frozen=True)
class CacheInfo:
    hits: int
    misses: int
    size: int


@dataclass
class _CacheEntry:
    result: ValidationResult
    window: tuple[datetime, datetime]  # the result holds for `at` in [start, end]


def _untrusted(reason: Reason, message: str) -> CertificateUntrusted:
    return CertificateUntrusted(message, reason=reason)


def _is_weak_hash(cert: x509.Certificate) -> bool:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return True
    return isinstance(algorithm, hashes.SHA1 | hashes.MD5)


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s key made ``cert``'s signature (SHA-1 included, for diagnosis
    and the legacy walker; cryptography's own check refuses SHA-1)."""
    if cert.issuer != issuer.subject:
        return False
    key = issuer.public_key()
    params = cert.signature_algorithm_parameters
    try:
        algorithm = cert.signature_hash_algorithm
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            assert not isinstance(params, ec.ECDSA)  # noqa: S101 - RSA key, RSA params
            key.verify(cert.signature, cert.tbs_certificate_bytes, params, algorithm)  # type: ignore[arg-type]
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(params, ec.ECDSA):
            key.verify(cert.signature, cert.tbs_certificate_bytes, params)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError, AssertionError):
        return False
    return True


def _key_problem(cert: x509.Certificate, policy: TrustPolicy) -> str | None:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < policy.min_rsa_bits:
        return f"RSA-{key.key_size} key"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < policy.min_ec_bits:
        return f"EC-{key.curve.key_size} key"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA key"
    return None


def _within(cert: x509.Certificate, at: datetime) -> Reason | None:
    if at < cert.not_valid_before_utc:
        return Reason.NOT_YET_VALID
    if at > cert.not_valid_after_utc:
        return Reason.EXPIRED
    return None


def _ca_ok(cert: x509.Certificate, below: int) -> bool:
    """basicConstraints CA, keyCertSign when keyUsage is present, pathLen respected
    (``below`` = number of CA certificates under this one on the path)."""
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    if not bc.ca or (bc.path_length is not None and below > bc.path_length):
        return False
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        return True


# cryptography's extension policies, written for document signing (rule 1). The
# validators are defence in depth; rule 2-3 checks below produce the exact reasons.
def _ca_basic_constraints(_p: Policy, _c: x509.Certificate, bc: x509.BasicConstraints) -> None:
    if not bc.ca:
        raise ValueError("issuer is not a CA")


def _ca_key_usage(_p: Policy, _c: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    if ku is not None and not ku.key_cert_sign:
        raise ValueError("issuer may not sign certificates")


def _ee_basic_constraints(
    _p: Policy, _c: x509.Certificate, bc: x509.BasicConstraints | None
) -> None:
    if bc is not None and bc.ca:
        raise ValueError("a CA certificate cannot sign documents")


_CA_POLICY = (
    ExtensionPolicy.permit_all()
    .require_present(x509.BasicConstraints, Criticality.AGNOSTIC, _ca_basic_constraints)
    .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _ca_key_usage)
)
_EE_POLICY = ExtensionPolicy.permit_all().may_be_present(
    x509.BasicConstraints, Criticality.AGNOSTIC, _ee_basic_constraints
)


class TrustStore:
    """Anchors, intermediates and CRLs, plus a bounded LRU cache of validation results
    keyed on (chain fingerprints, OCSP input, policy, ``at`` bucket). Replacing CRLs
    bumps :attr:`version` and empties the cache. Thread-safe."""

    def __init__(
        self,
        *,
        anchors: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate] = (),
        crls: Sequence[x509.CertificateRevocationList] = (),
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if not anchors:
            raise TrustConfigInvalid("no trust anchors: refusing to trust nothing implicitly")
        self.anchors: tuple[x509.Certificate, ...] = tuple(dict.fromkeys(anchors))
        self.intermediates: tuple[x509.Certificate, ...] = tuple(dict.fromkeys(intermediates))
        self._crls: tuple[x509.CertificateRevocationList, ...] = tuple(crls)
        self._store = Store(list(self.anchors))
        self._anchor_fps = frozenset(fingerprint(a) for a in self.anchors)
        self.version = 0
        self._cache: OrderedDict[tuple[object, ...], _CacheEntry] = OrderedDict()
        self._cache_size = cache_size
        self._hits = self._misses = 0
        self._lock = threading.Lock()

    @classmethod
    def from_files(
        cls,
        anchors: Iterable[Path],
        intermediates: Iterable[Path] = (),
        crls: Iterable[Path] = (),
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> TrustStore:
        """Load PEM/DER certificates and CRLs from files or folders (``*.pem``, ``*.crt``,
        ``*.cer``, ``*.der``, ``*.crl`` directly inside a folder)."""
        return cls(
            anchors=_load_certs(anchors),
            intermediates=_load_certs(intermediates),
            crls=_load_crls(crls),
            cache_size=cache_size,
        )

    @property
    def crls(self) -> tuple[x509.CertificateRevocationList, ...]:
        return self._crls

    def replace_crls(self, crls: Sequence[x509.CertificateRevocationList]) -> None:
        """Install a new CRL set (e.g. after a refresh); cached results are dropped."""
        with self._lock:
            self._crls = tuple(crls)
            self.version += 1
            self._cache.clear()

    def add_crl(self, crl: x509.CertificateRevocationList) -> None:
        """Add a CRL, replacing older ones of the same issuer."""
        keep = [c for c in self._crls if c.issuer != crl.issuer]
        self.replace_crls([*keep, crl])

    def cache_info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._cache))

    # -- validation --------------------------------------------------------------------

    def validate(
        self,
        leaf: x509.Certificate,
        intermediates: Sequence[x509.Certificate] = (),
        *,
        at: datetime,
        policy: TrustPolicy = DEFAULT_TRUST_POLICY,
        ocsp_responses: Sequence[bytes] = (),
    ) -> ValidationResult:
        """Validate a document-signing certificate as of ``at`` (module rules 0-5)."""
        # (0) explicit, aware time
        if at.tzinfo is None:
            raise TrustConfigInvalid("validation time must be timezone-aware")
        bucket = int(at.timestamp() // CACHE_BUCKET.total_seconds())
        key = (
            fingerprint(leaf),
            tuple(fingerprint(c) for c in intermediates),
            tuple(hashlib.sha256(r).hexdigest() for r in ocsp_responses),
            policy,
            bucket,
        )
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and entry.window[0] <= at <= entry.window[1]:
                self._cache.move_to_end(key)
                self._hits += 1
                return entry.result
            self._misses += 1
            version = self.version
        result, window = self._validate(leaf, intermediates, at, policy, ocsp_responses)
        with self._lock:
            if version == self.version:  # no CRL change while we worked
                self._cache[key] = _CacheEntry(result, window)
                self._cache.move_to_end(key)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return result

    def _validate(
        self,
        leaf: x509.Certificate,
        intermediates: Sequence[x509.Certificate],
        at: datetime,
        policy: TrustPolicy,
        ocsp_responses: Sequence[bytes],
    ) -> tuple[ValidationResult, tuple[datetime, datetime]]:
        pool = list(dict.fromkeys([*intermediates, *self.intermediates]))
        # (1) path building with our policies; on failure, name the cause
        legacy = False
        try:
            verifier = (
                PolicyBuilder()
                .store(self._store)
                .time(at)
                .max_chain_depth(MAX_CHAIN_DEPTH)
                .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
                .build_client_verifier()
            )
            path = tuple(verifier.verify(leaf, pool).chain)
        except VerificationError as exc:
            path = self._explain(leaf, pool, at, policy, exc)
            legacy = True  # only a SHA-1 path under allow_sha1 gets here
        # (2) key sizes on the whole path (the leaf is not checked by cryptography)
        for cert in path:
            problem = _key_problem(cert, policy)
            if problem is not None:
                raise _untrusted(Reason.WEAK_KEY, f"{problem}: {cert.subject.rfc4514_string()}")
        # (3) the leaf's usages
        _check_leaf_usage(leaf, path, policy)
        # (4) OrganIds
        organ_ids = organ_ids_of(leaf, policy.organ_id_mapping)
        if not organ_ids and policy.require_organ_id:
            raise _untrusted(Reason.NO_ORGAN_ID, "the certificate names no OrganId")
        # (5) revocation
        revocation, window = self._check_revocation(path, at, policy, ocsp_responses)
        start = max(c.not_valid_before_utc for c in path)
        end = min([c.not_valid_after_utc for c in path] + [window])
        result = ValidationResult(
            anchor=path[-1],
            path=path,
            organ_ids=organ_ids,
            revocation=revocation,
            checked_at=at,
            legacy=legacy,
        )
        return result, (start, end)

    def _explain(
        self,
        leaf: x509.Certificate,
        pool: list[x509.Certificate],
        at: datetime,
        policy: TrustPolicy,
        exc: VerificationError,
    ) -> tuple[x509.Certificate, ...]:
        """Why cryptography refused the path — or, for a SHA-1 path under the legacy
        flag, the path itself after the walker's checks."""
        path = _walk(leaf, pool, self.anchors, self._anchor_fps)
        if path is None:
            raise _untrusted(Reason.UNTRUSTED_ROOT, "no configured trust anchor signs this chain")
        for cert in path[:-1]:  # the anchor's own signature is not relied upon
            if _is_weak_hash(cert) and not policy.allow_sha1:
                raise _untrusted(Reason.WEAK_ALGORITHM, "SHA-1/MD5 signature on the path")
        for cert in path:
            when = _within(cert, at)
            if when is not None:
                who = "certificate" if cert is leaf else "CA certificate"
                raise _untrusted(when, f"{who} {cert.subject.rfc4514_string()} is {when.value}")
        if not all(_ca_ok(ca, i) for i, ca in enumerate(path[1:])):
            raise _untrusted(Reason.INVALID_CHAIN, "an issuer on the path is not a usable CA")
        if leaf.extensions and _is_ca(leaf):
            raise _untrusted(Reason.WRONG_KEY_USAGE, "a CA certificate cannot sign documents")
        for cert in path:
            problem = _key_problem(cert, policy)
            if problem is not None:
                raise _untrusted(Reason.WEAK_KEY, f"{problem}: {cert.subject.rfc4514_string()}")
        if policy.allow_sha1 and any(_is_weak_hash(c) for c in path[:-1]):
            return path
        raise _untrusted(Reason.INVALID_CHAIN, f"path validation failed: {exc}") from exc

    def _check_revocation(
        self,
        path: tuple[x509.Certificate, ...],
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
            _crl_urls(leaf) or _ocsp_urls(leaf)
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
            check, until = self._status_of(
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
        self,
        *,
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
        candidates = [c for c in self._crls if c.issuer == issuer.subject]
        verified = [c for c in candidates if _crl_signed_by(c, issuer, policy)]
        current = [c for c in verified if c.next_update_utc is not None and c.next_update_utc >= at]
        if current:
            crl = max(current, key=lambda c: c.last_update_utc)
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None:
                if entry.revocation_date_utc <= at:
                    raise CertificateRevoked(
                        f"{subject} is revoked (CRL)",
                        revoked_at=entry.revocation_date_utc,
                        crl_reason=_crl_reason(entry),
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
            if ocsp_responses and not _crl_urls(cert):
                raise RevocationUnknown(
                    f"no usable OCSP answer for {subject}", reason=Reason.OCSP_UNAVAILABLE
                )
            raise RevocationUnknown(f"no CRL for {subject}", reason=Reason.CRL_MISSING)
        unknown = RevocationCheck(subject, fp, RevocationState.UNKNOWN, RevocationSource.NONE)
        return unknown, end


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _check_leaf_usage(
    leaf: x509.Certificate, path: tuple[x509.Certificate, ...], policy: TrustPolicy
) -> None:
    if _is_ca(leaf):
        raise _untrusted(Reason.WRONG_KEY_USAGE, "a CA certificate cannot sign documents")
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise _untrusted(Reason.WRONG_KEY_USAGE, "the certificate has no keyUsage") from None
    if not ku.digital_signature or (policy.require_non_repudiation and not ku.content_commitment):
        raise _untrusted(
            Reason.WRONG_KEY_USAGE, "keyUsage lacks digitalSignature or nonRepudiation"
        )
    if policy.eku_allow_list & {fingerprint(c) for c in path}:
        return  # a national CA (or leaf) vouched for explicitly in the trust config
    try:
        ekus = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise _untrusted(Reason.WRONG_EKU, "the certificate has no extendedKeyUsage") from None
    if not {e.dotted_string for e in ekus} & policy.accepted_ekus:
        raise _untrusted(Reason.WRONG_EKU, "no accepted EKU (documentSigning)")


def _walk(
    leaf: x509.Certificate,
    pool: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    anchor_fps: frozenset[str],
) -> tuple[x509.Certificate, ...] | None:
    """Depth-first search for leaf → … → anchor by names and signatures (no time, no
    policy): the diagnosis of a refused path, and the legacy SHA-1 path."""

    def extend(chain: list[x509.Certificate]) -> tuple[x509.Certificate, ...] | None:
        top = chain[-1]
        if fingerprint(top) in anchor_fps:
            return tuple(chain)
        if len(chain) >= MAX_CHAIN_DEPTH:
            return None
        for candidate in [*anchors, *pool]:
            if candidate in chain or not signed_by(top, candidate):
                continue
            found = extend([*chain, candidate])
            if found is not None:
                return found
        return None

    return extend([leaf])


def _crl_signed_by(
    crl: x509.CertificateRevocationList, issuer: x509.Certificate, policy: TrustPolicy
) -> bool:
    if isinstance(crl.signature_hash_algorithm, hashes.SHA1 | hashes.MD5) and not policy.allow_sha1:
        return False
    try:
        ku = issuer.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.crl_sign:
            return False
    except x509.ExtensionNotFound:
        pass
    key = issuer.public_key()
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return False
    try:
        return crl.is_signature_valid(key)
    except (UnsupportedAlgorithm, ValueError, TypeError):
        return False


def _crl_reason(entry: x509.RevokedCertificate) -> str | None:
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
    except x509.ExtensionNotFound:
        return None


def _crl_urls(cert: x509.Certificate) -> tuple[str, ...]:
    """URLs of the certificate's CRL distribution points."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(
        name.value
        for point in points
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    )


def _ocsp_urls(cert: x509.Certificate) -> tuple[str, ...]:
    """URLs of the certificate's OCSP responders (AIA)."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(
        d.access_location.value
        for d in aia
        if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    )


crl_urls = _crl_urls
ocsp_urls = _ocsp_urls

_CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")
_CRL_SUFFIXES = (".pem", ".crl", ".der")


def _files(paths: Iterable[Path], suffixes: tuple[str, ...], label: bytes) -> list[Path]:
    """Named files as given; in a folder, the files with a matching suffix whose PEM
    label (if PEM) is ``label`` — a folder may mix certificates and CRLs."""
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        for item in sorted(path.iterdir()):
            if item.suffix.lower() not in suffixes or not item.is_file():
                continue
            head = item.read_bytes()
            if b"-----BEGIN" not in head or b"-----BEGIN " + label in head:
                out.append(item)
    return out


def _load_certs(paths: Iterable[Path]) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for path in _files(paths, _CERT_SUFFIXES, b"CERTIFICATE-----"):
        try:
            data = path.read_bytes()
            certs += (
                x509.load_pem_x509_certificates(data)
                if b"-----BEGIN" in data
                else [x509.load_der_x509_certificate(data)]
            )
        except (OSError, ValueError) as exc:
            raise TrustConfigInvalid(f"cannot read certificate(s) from {path}: {exc}") from exc
    return certs


def _load_crls(paths: Iterable[Path]) -> list[x509.CertificateRevocationList]:
    crls: list[x509.CertificateRevocationList] = []
    for path in _files(paths, _CRL_SUFFIXES, b"X509 CRL-----"):
        try:
            crls.append(load_crl(path.read_bytes()))
        except OSError as exc:
            raise TrustConfigInvalid(f"cannot read CRL from {path}: {exc}") from exc
    return crls


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL from PEM or DER bytes (TrustConfigInvalid when it is neither)."""
    try:
        return (
            x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
        )
    except ValueError as exc:
        raise TrustConfigInvalid(f"not a CRL: {exc}") from exc


@dataclass(frozen=True)
class Expiring:
    """A certificate whose notAfter falls within the window asked about."""

    subject: str
    fingerprint: str
    not_after: datetime
    days_left: float
    """Negative when already expired."""
    certificate: x509.Certificate = field(repr=False)


def expiring(
    certs: Iterable[x509.Certificate], *, within: timedelta, at: datetime
) -> tuple[Expiring, ...]:
    """Certificates (own and trusted) expiring within ``within`` of ``at`` — already
    expired ones included — soonest first, each listed once."""
    if at.tzinfo is None:
        raise TrustConfigInvalid("`at` must be timezone-aware")
    found = {
        fingerprint(c): Expiring(
            subject=c.subject.rfc4514_string(),
            fingerprint=fingerprint(c),
            not_after=c.not_valid_after_utc,
            days_left=(c.not_valid_after_utc - at) / timedelta(days=1),
            certificate=c,
        )
        for c in certs
        if c.not_valid_after_utc <= at + within
    }
    return tuple(sorted(found.values(), key=lambda e: e.not_after))


def organ_id_mapping_from(
    by_fingerprint: Mapping[str, Sequence[str]] | None = None,
    by_issuer_serial: Iterable[tuple[str, int, Sequence[str]]] = (),
) -> tuple[OrganIdBinding, ...]:
    """Config helper: ``{fingerprint: [OrganId, ...]}`` and ``(issuer, serial, ids)``."""
    return tuple(
        [OrganIdBinding.by_fingerprint(fp, ids) for fp, ids in (by_fingerprint or {}).items()]
        + [OrganIdBinding.by_issuer_serial(i, s, ids) for i, s, ids in by_issuer_serial]
    )
