"""Verification of a packet as it enters: the ONE function shared by every entry point
(direct server, axis poll, axis server) and by the auditor's ``docnode verify``.

Steps, in this order (DESIGN §2/§4, STYLE §4; a failing step stops the run and names its
code):

(0) size — the packet is no larger than ``Limits.max_packet_bytes``.
(1) parse — the one hardened parser (``envelopes.parser``): no DTD, entities, network.
(2) signature — exactly one ds:Signature in the agreed place over the whole packet, policy
    algorithms only; what follows reads ONLY the tree the signature covers.
(3) schema — the signed tree validates against our edXML XSD.
(4) decode — the signed tree becomes a typed Edoc / StatusMessage.
    Steps 1-4 are ``envelopes.packet.open_packet``.
(5) trust — the signer's certificate chains to a configured anchor, is valid at ``at`` and
    passes the revocation rule (``keystore.trust``). Revocation data that is missing or stale
    for a required check is INDETERMINATE (``revocation_unknown``), not a pass.
(6) sender binding — the certificate speaks for the packet's ``From/OrganId``
    (X-Road's ``Verifier.verify(sender, signature)``).
(7) freshness — the sender's timestamp lies within [at - freshness_past, at + clock_skew]
    (receive path only; an auditor checks old packets on purpose).

The steps are plain functions over a :class:`Facts` record so that the auditor's report
(``docnode.audit``) can show everything established before a failure. The daemon calls
:func:`verify_incoming`, which raises the failing step's error.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from docnode import errors
from docnode.offload import Offloader
from envelopes.errors import EnvelopeError, SignatureMissing, TooLarge
from envelopes.limits import DEFAULT_LIMITS, Limits
from envelopes.model import Edoc, StatusMessage
from envelopes.packet import OpenedPacket, open_packet
from envelopes.read import read_packet
from envelopes.signature import DEFAULT_SIGNATURE_POLICY, SignaturePolicy
from keystore.errors import KeystoreError
from keystore.trust import (
    DOCUMENT_SIGNING,
    OrganIdBinding,
    RevocationRule,
    TrustPolicy,
    TrustStore,
    ValidationResult,
)

if TYPE_CHECKING:
    from docnode.config import Settings

SIGNATURE_REQUIRED = "required"
SIGNATURE_LEGACY_ALLOWED = "legacy-allowed"


@dataclass(frozen=True, slots=True)
class VerificationContext:
    """Everything a verification needs besides the bytes and the time (policy in)."""

    trust: TrustStore
    trust_policy: TrustPolicy
    signature_policy: SignaturePolicy = DEFAULT_SIGNATURE_POLICY
    limits: Limits = DEFAULT_LIMITS
    lenient: bool = False
    """Accept the VNPT SDK's warts (junk before the declaration, undeclared xlink:)."""
    legacy: str = SIGNATURE_REQUIRED
    """``required`` (default) or ``legacy-allowed``: unsigned packets accepted only from an
    authenticated axis connection and marked unverified (DESIGN §7). Dangerous: say so."""
    freshness_past: timedelta = timedelta(days=7)
    clock_skew: timedelta = timedelta(seconds=300)


@dataclass(slots=True)
class Facts:
    """What the steps established so far (mutable while the steps run, then frozen into a
    report or a :class:`VerifiedIncoming`)."""

    size: int = 0
    packet_sha256: str = ""
    steps_passed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    opened: OpenedPacket | None = None
    packet: Edoc | StatusMessage | None = None
    signer_certificate: x509.Certificate | None = None
    chain: tuple[x509.Certificate, ...] = ()
    signature_algorithm: str | None = None
    digest_algorithm: str | None = None
    validation: ValidationResult | None = None
    sender_bound: bool | None = None
    unverified: bool = False
    """True for a legacy packet accepted without a signature (policy legacy-allowed)."""

    @property
    def from_organ_id(self) -> str | None:
        return None if self.packet is None else str(self.packet.from_.organ_id)


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    facts: Facts
    error: Exception | None
    """The failing step's error (an EnvelopeError, KeystoreError or DocnodeError)."""


@dataclass(frozen=True, slots=True)
class VerifiedIncoming:
    """A packet that passed every step: only what the signature covers."""

    packet: Edoc | StatusMessage
    packet_sha256: str
    sender: str
    """The From/OrganId, bound to the signer's certificate (step 6)."""
    signer_certificate: x509.Certificate | None
    validation: ValidationResult | None
    unverified: bool
    warnings: tuple[str, ...]


# --- the steps -------------------------------------------------------------------------


def _step_size(data: bytes, ctx: VerificationContext, facts: Facts) -> None:
    facts.size = len(data)
    facts.packet_sha256 = hashlib.sha256(data).hexdigest()
    if len(data) > ctx.limits.max_packet_bytes:
        raise TooLarge(f"packet of {len(data)} bytes exceeds {ctx.limits.max_packet_bytes}")
    facts.steps_passed.append("size")


def _step_open(
    data: bytes, ctx: VerificationContext, facts: Facts, *, authenticated_axis: bool
) -> None:
    try:
        opened = open_packet(
            data, policy=ctx.signature_policy, limits=ctx.limits, lenient=ctx.lenient
        )
    except SignatureMissing:
        # DESIGN §7: unsigned legacy traffic only from an authenticated axis, and only when
        # the operator chose ``legacy-allowed``; it is stored marked ``unverified``.
        if not (ctx.legacy == SIGNATURE_LEGACY_ALLOWED and authenticated_axis):
            raise
        read = read_packet(data, limits=ctx.limits, lenient=ctx.lenient)
        facts.packet = read.packet
        facts.warnings.extend(read.warnings)
        facts.unverified = True
        facts.steps_passed.extend(["parse", "schema", "decode"])
        return
    facts.opened = opened
    facts.packet = opened.packet
    facts.signer_certificate = opened.verified.signer_certificate
    facts.chain = tuple(opened.verified.chain)
    facts.signature_algorithm = opened.verified.signature_algorithm
    facts.digest_algorithm = opened.verified.digest_algorithm
    facts.warnings.extend(opened.warnings)
    facts.steps_passed.extend(["parse", "signature", "schema", "decode"])


def _step_trust(
    ctx: VerificationContext,
    facts: Facts,
    *,
    at: datetime,
    ocsp_responses: Sequence[bytes],
) -> None:
    if facts.unverified or facts.signer_certificate is None:
        return
    facts.validation = ctx.trust.validate(
        facts.signer_certificate,
        facts.chain,
        at=at,
        policy=ctx.trust_policy,
        ocsp_responses=tuple(ocsp_responses),
    )
    facts.steps_passed.append("trust")


def _step_sender_binding(facts: Facts) -> None:
    if facts.unverified or facts.validation is None:
        return
    claimed = facts.from_organ_id
    bound = facts.validation.organ_ids
    facts.sender_bound = claimed is not None and claimed in bound
    if not facts.sender_bound:
        raise errors.SenderMismatch(
            f"From/OrganId {claimed!r} is not among the certificate's OrganIds "
            f"{list(bound)!r}",
            detail={"from_organ_id": claimed, "certificate_organ_ids": list(bound)},
        )
    facts.steps_passed.append("sender_binding")


def _step_freshness(ctx: VerificationContext, facts: Facts, *, at: datetime) -> None:
    stamp = _sender_timestamp(facts.packet)
    if stamp is None:
        raise errors.StalePacket("the packet carries no sender timestamp")
    if stamp < at - ctx.freshness_past or stamp > at + ctx.clock_skew:
        raise errors.StalePacket(
            f"sender timestamp {stamp.isoformat()} is outside "
            f"[{(at - ctx.freshness_past).isoformat()}, {(at + ctx.clock_skew).isoformat()}]",
            detail={"timestamp": stamp.isoformat()},
        )
    facts.steps_passed.append("freshness")


def _sender_timestamp(packet: Edoc | StatusMessage | None) -> datetime | None:
    """The sender's own stamp: a status's Timestamp; an edoc's first TraceHeader (the one
    the sender wrote for itself, spec §2.3.3 — later ones are appended in transit)."""
    if isinstance(packet, StatusMessage):
        return packet.timestamp
    if isinstance(packet, Edoc) and packet.trace_headers:
        return packet.trace_headers[0].timestamp
    return None


# --- building a context from options or config ----------------------------------------

_FINGERPRINT = re.compile(r"^(sha256:)?[0-9a-fA-F:]{64,95}$")
_OID = re.compile(r"^[0-2](\.[0-9]+)+$")


def build_context(
    *,
    anchors: Sequence[Path],
    intermediates: Sequence[Path] = (),
    crls: Sequence[Path] = (),
    revocation: str = RevocationRule.REQUIRED.value,
    signature_policy: str = SIGNATURE_REQUIRED,
    organ_id_map: Mapping[str, Sequence[str]] | None = None,
    eku_allowlist: Sequence[str] = (),
    min_rsa_bits: int = 2048,
    limits: Limits = DEFAULT_LIMITS,
    lenient: bool = False,
    freshness_past: timedelta = timedelta(days=7),
    clock_skew: timedelta = timedelta(seconds=300),
    allow_no_anchor: bool = False,
) -> VerificationContext:
    """The one place trust options (CLI) and ``[trust]`` config become a context.
    ``allow_no_anchor``: an empty trust store is accepted (every signed packet then fails
    with ``untrusted_root``); only ``docnode axis serve`` without anchors asks for it.

    ``eku_allowlist`` entries are either EKU OIDs accepted besides documentSigning, or
    SHA-256 fingerprints of national-CA certificates accepted without it.
    ``organ_id_map`` keys are certificate SHA-256 fingerprints.
    """
    try:
        rule = RevocationRule(revocation)
    except ValueError as exc:
        raise errors.UsageError(f"unknown revocation rule {revocation!r}") from exc
    if signature_policy not in (SIGNATURE_REQUIRED, SIGNATURE_LEGACY_ALLOWED):
        raise errors.UsageError(f"unknown signature policy {signature_policy!r}")
    ekus = {DOCUMENT_SIGNING.dotted_string}
    fingerprints: set[str] = set()
    for entry in eku_allowlist:
        if _OID.match(entry):
            ekus.add(entry)
        elif _FINGERPRINT.match(entry):
            fingerprints.add(entry)
        else:
            raise errors.UsageError(
                f"eku_allowlist entry {entry!r} is neither an OID nor a SHA-256 fingerprint"
            )
    bindings = tuple(
        OrganIdBinding.by_fingerprint(fp, ids) for fp, ids in (organ_id_map or {}).items()
    )
    policy = TrustPolicy(
        revocation=rule,
        min_rsa_bits=min_rsa_bits,
        allow_sha1=signature_policy == SIGNATURE_LEGACY_ALLOWED,
        accepted_ekus=frozenset(ekus),
        eku_allow_list=frozenset(fingerprints),
        organ_id_mapping=bindings,
    )
    return VerificationContext(
        trust=TrustStore.from_files(anchors, intermediates, crls,
                                    allow_no_anchor=allow_no_anchor),
        trust_policy=policy,
        signature_policy=SignaturePolicy(
            allow_sha1=signature_policy == SIGNATURE_LEGACY_ALLOWED, min_rsa_bits=min_rsa_bits
        ),
        limits=limits,
        lenient=lenient,
        legacy=signature_policy,
        freshness_past=freshness_past,
        clock_skew=clock_skew,
    )


def context_from_settings(
    settings: Settings, *, lenient: bool = False, revocation: str | None = None
) -> VerificationContext:
    """The context of a node's ``[trust]`` and ``[limits]`` sections."""
    trust = settings.trust
    return build_context(
        anchors=trust.anchors,
        intermediates=trust.intermediates,
        crls=trust.crls,
        revocation=revocation or trust.revocation.value,
        signature_policy=trust.signature_policy.value,
        organ_id_map=trust.organ_id_map,
        eku_allowlist=trust.eku_allowlist,
        min_rsa_bits=trust.min_rsa_bits,
        limits=settings.limits.to_limits(),
        lenient=lenient,
        freshness_past=timedelta(seconds=settings.limits.freshness_past_s),
        clock_skew=timedelta(seconds=settings.limits.clock_skew_s),
    )


# --- entry points ----------------------------------------------------------------------


def check_packet(
    data: bytes,
    *,
    context: VerificationContext,
    at: datetime,
    ocsp_responses: Sequence[bytes] = (),
    check_freshness: bool = False,
    authenticated_axis: bool = False,
) -> CheckOutcome:
    """Run every step; never raises for a bad packet: the failing step's error is returned
    with the facts established before it (the auditor's report needs both)."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    facts = Facts()
    try:
        _step_size(data, context, facts)
        _step_open(data, context, facts, authenticated_axis=authenticated_axis)
        _step_trust(context, facts, at=at, ocsp_responses=ocsp_responses)
        _step_sender_binding(facts)
        if check_freshness:
            _step_freshness(context, facts, at=at)
    except (EnvelopeError, KeystoreError, errors.DocnodeError) as exc:
        return CheckOutcome(facts, exc)
    return CheckOutcome(facts, None)


def verified_from(outcome: CheckOutcome) -> VerifiedIncoming:
    """The verified packet of a passed outcome; raises the failing step's error."""
    if outcome.error is not None:
        raise outcome.error
    facts = outcome.facts
    if facts.packet is None or facts.from_organ_id is None:
        raise errors.InternalError("verification passed without a packet")
    return VerifiedIncoming(
        packet=facts.packet,
        packet_sha256=facts.packet_sha256,
        sender=facts.from_organ_id,
        signer_certificate=facts.signer_certificate,
        validation=facts.validation,
        unverified=facts.unverified,
        warnings=tuple(facts.warnings),
    )


async def verify_incoming(
    data: bytes,
    *,
    context: VerificationContext,
    at: datetime,
    offloader: Offloader,
    ocsp_responses: Sequence[bytes] = (),
    check_freshness: bool = True,
    authenticated_axis: bool = False,
) -> VerifiedIncoming:
    """The receive path's verification (steps 0-7), off the event loop.

    Runs in a worker thread: the trust store's validation cache lives in this process, and
    lxml/OpenSSL release the GIL for the heavy parts. Raises the failing step's error.
    """
    outcome = await offloader.in_thread(
        check_packet,
        data,
        context=context,
        at=at,
        ocsp_responses=ocsp_responses,
        check_freshness=check_freshness,
        authenticated_axis=authenticated_axis,
    )
    return verified_from(outcome)
