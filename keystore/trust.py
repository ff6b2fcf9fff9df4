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

Layout: :mod:`keystore.policy` (the frozen policy), :mod:`keystore.binding` (OrganIds),
:mod:`keystore.path` (rules 1-3), :mod:`keystore.material` (files, CRL checks); this
module holds the store, the cache and the results, and re-exports the names above.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from keystore.binding import (
    OrganIdBinding,
    fingerprint,
    normalize_fingerprint,
    organ_id_mapping_from,
    organ_ids_of,
)
from keystore.errors import CertificateUntrusted, Reason, TrustConfigInvalid
from keystore.material import (
    crl_urls,
    load_certificates,
    load_crl,
    load_crls,
    ocsp_urls,
)
from keystore.path import (
    CA_POLICY,
    EE_POLICY,
    MAX_CHAIN_DEPTH,
    check_leaf_usage,
    is_ca,
    is_weak_hash,
    key_problem,
    legacy_walkable,
    signed_by,
    untrusted,
    usable_ca,
    validity_problem,
    walk,
)
from keystore.policy import DEFAULT_TRUST_POLICY, DOCUMENT_SIGNING, RevocationRule, TrustPolicy
from keystore.revocation import (
    RevocationCheck,
    RevocationSource,
    RevocationState,
    RevocationStatus,
    check_revocation,
)

__all__ = [
    "DEFAULT_TRUST_POLICY",
    "DOCUMENT_SIGNING",
    "CacheInfo",
    "Expiring",
    "OrganIdBinding",
    "RevocationCheck",
    "RevocationRule",
    "RevocationSource",
    "RevocationState",
    "RevocationStatus",
    "TrustPolicy",
    "TrustStore",
    "ValidationResult",
    "crl_urls",
    "expiring",
    "fingerprint",
    "load_crl",
    "normalize_fingerprint",
    "ocsp_urls",
    "organ_id_mapping_from",
    "organ_ids_of",
    "signed_by",
]

DEFAULT_CACHE_SIZE = 4096
"""Validation results kept per TrustStore (LRU)."""
CACHE_BUCKET = timedelta(minutes=5)
"""Results are cached per 5-minute slice of ``at`` (and only inside their validity window)."""


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
        allow_no_anchor: bool = False,
    ) -> None:
        # An empty store trusts nothing: every path ends in ``untrusted_root``. That is never
        # what a config meant, unless the caller says so (an axis started without anchors
        # that only relays unsigned legacy packets, and says so at start).
        if not anchors and not allow_no_anchor:
            raise TrustConfigInvalid("no trust anchors: refusing to trust nothing implicitly")
        self.anchors: tuple[x509.Certificate, ...] = tuple(dict.fromkeys(anchors))
        self.intermediates: tuple[x509.Certificate, ...] = tuple(dict.fromkeys(intermediates))
        self._crls: tuple[x509.CertificateRevocationList, ...] = tuple(crls)
        self._store = Store(list(self.anchors)) if self.anchors else None
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
        allow_no_anchor: bool = False,
    ) -> TrustStore:
        """Load PEM/DER certificates and CRLs from files or folders (``*.pem``, ``*.crt``,
        ``*.cer``, ``*.der``, ``*.crl`` directly inside a folder)."""
        return cls(
            anchors=load_certificates(anchors),
            intermediates=load_certificates(intermediates),
            crls=load_crls(crls),
            cache_size=cache_size,
            allow_no_anchor=allow_no_anchor,
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
        try:
            result, window = self._validate(leaf, intermediates, at, policy, ocsp_responses)
        except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
            # cryptography decodes certificate fields lazily: a sender-supplied certificate
            # with a corrupt subject or extension fails here, not when it was loaded.
            raise CertificateUntrusted(
                "a certificate on the path cannot be read", reason=Reason.INVALID_CHAIN
            ) from exc
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
        if self._store is None:  # allow_no_anchor: nothing is trusted
            raise untrusted(Reason.UNTRUSTED_ROOT,
                            "this trust store holds no anchor: no certificate is trusted")
        # (1) path building with our policies; on failure, name the cause
        legacy = False
        try:
            verifier = (
                PolicyBuilder()
                .store(self._store)
                .time(at)
                .max_chain_depth(MAX_CHAIN_DEPTH)
                .extension_policies(ca_policy=CA_POLICY, ee_policy=EE_POLICY)
                .build_client_verifier()
            )
            path = tuple(verifier.verify(leaf, pool).chain)
        except VerificationError as exc:
            path = self._explain(leaf, pool, at, policy, exc)
            legacy = True  # only a SHA-1 path under allow_sha1 gets here
        # (2) key sizes on the whole path (the leaf is not checked by cryptography)
        for cert in path:
            problem = key_problem(cert, policy)
            if problem is not None:
                raise untrusted(Reason.WEAK_KEY, f"{problem}: {cert.subject.rfc4514_string()}")
        # (3) the leaf's usages
        check_leaf_usage(leaf, path, policy)
        # (4) OrganIds
        organ_ids = organ_ids_of(leaf, policy.organ_id_mapping)
        if not organ_ids and policy.require_organ_id:
            raise untrusted(Reason.NO_ORGAN_ID, "the certificate names no OrganId")
        # (5) revocation
        revocation, window = check_revocation(
            path, crls=self._crls, at=at, policy=policy, ocsp_responses=ocsp_responses
        )
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
        path = walk(leaf, pool, self.anchors, self._anchor_fps)
        if path is None:
            raise untrusted(Reason.UNTRUSTED_ROOT, "no configured trust anchor signs this chain")
        for cert in path[:-1]:  # the anchor's own signature is not relied upon
            if is_weak_hash(cert) and not policy.allow_sha1:
                raise untrusted(Reason.WEAK_ALGORITHM, "SHA-1/MD5 signature on the path")
        for cert in path:
            when = validity_problem(cert, at)
            if when is not None:
                who = "certificate" if cert is leaf else "CA certificate"
                raise untrusted(when, f"{who} {cert.subject.rfc4514_string()} is {when.value}")
        if not all(usable_ca(ca, i) for i, ca in enumerate(path[1:])):
            raise untrusted(Reason.INVALID_CHAIN, "an issuer on the path is not a usable CA")
        if leaf.extensions and is_ca(leaf):
            raise untrusted(Reason.WRONG_KEY_USAGE, "a CA certificate cannot sign documents")
        for cert in path:
            problem = key_problem(cert, policy)
            if problem is not None:
                raise untrusted(Reason.WEAK_KEY, f"{problem}: {cert.subject.rfc4514_string()}")
        if policy.allow_sha1 and any(is_weak_hash(c) for c in path[:-1]):
            if not all(legacy_walkable(c) for c in path):
                raise untrusted(Reason.INVALID_CHAIN, "a critical extension the legacy path skips")
            return path
        raise untrusted(Reason.INVALID_CHAIN, f"path validation failed: {exc}") from exc


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
