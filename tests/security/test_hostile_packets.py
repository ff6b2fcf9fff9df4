"""Every crafted hostile packet meets its exact refusal in THE receive-path verification
(``docnode.verification.check_packet``, freshness on, as the daemon runs it)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from docnode.verification import VerificationContext, build_context, check_packet
from envelopes.model import Edoc
from envelopes.signature import sign
from keystore.ca import DevCA, KeyType, pem
from keystore.errors import KeystoreError

from .crafting import LIMITS, SENDER, Kit
from .hostile import CASES, Case, replay_base


def test_at_least_forty_crafted_packets() -> None:
    assert len([c for c in CASES.values() if c.code is not None]) >= 40


def test_the_base_packet_verifies(kit: Kit, context: VerificationContext) -> None:
    outcome = check_packet(kit.signed(), context=context, at=kit.at, check_freshness=True)
    assert outcome.error is None
    assert outcome.facts.sender_bound is True
    assert outcome.facts.from_organ_id == SENDER


@pytest.mark.parametrize("hostile", CASES.values(), ids=list(CASES))
def test_hostile_packet_is_refused_with_its_code(
    hostile: Case, kit: Kit, context: VerificationContext
) -> None:
    data = hostile.build(kit)
    outcome = check_packet(data, context=context, at=kit.at, check_freshness=True)
    got = None if outcome.error is None else getattr(outcome.error, "code", "not-a-code")
    assert got == hostile.code
    if hostile.reason is not None:
        reason = getattr(outcome.error, "reason", None)
        assert (None if reason is None else str(reason)) == hostile.reason
    if outcome.error is not None:
        # Nothing unsigned leaks into the facts of a refused packet.
        assert "trust" not in outcome.facts.steps_passed or hostile.code in (
            "sender_mismatch", "stale_packet")


def test_comment_injection_changes_no_signed_value(kit: Kit, context: VerificationContext) -> None:
    """The verified tree is the canonical one: a comment splitting the signed Subject is gone,
    and the Subject reads exactly as signed."""
    base = check_packet(replay_base(kit), context=context, at=kit.at, check_freshness=True)
    injected = CASES["comment_injected_in_signed_text_replayed"].build(kit)
    outcome = check_packet(injected, context=context, at=kit.at, check_freshness=True)
    assert outcome.error is None and base.error is None
    assert isinstance(outcome.facts.packet, Edoc) and isinstance(base.facts.packet, Edoc)
    assert outcome.facts.packet.subject == base.facts.packet.subject
    assert outcome.facts.packet_sha256 != base.facts.packet_sha256


def test_weak_ca_key_is_weak_key(kit: Kit, tmp_path: Path) -> None:
    """A P-256 leaf passes the signature policy; its issuing CA's RSA-1024 key is the weak
    link, and trust validation names it (certificate_untrusted / weak_key)."""
    at = kit.at
    weak_ca = DevCA.init(tmp_path / "weak-ca", now=at - timedelta(days=365),
                         key_type=KeyType.INSECURE_RSA1024, name="Weak Development")
    leaf = weak_ca.issue_signing(SENDER, "Văn phòng Bộ Nội vụ", valid_from=at - timedelta(days=1),
                                 valid_until=at + timedelta(days=30))
    anchor = tmp_path / "weak-root.pem"
    anchor.write_bytes(pem(weak_ca.root))
    crls = []
    for name, root in (("crl.pem", False), ("root-crl.pem", True)):
        path = tmp_path / name
        path.write_bytes(weak_ca.crl(at=at, root=root).public_bytes(serialization.Encoding.PEM))
        crls.append(path)
    context = build_context(anchors=[anchor], crls=crls, limits=LIMITS)
    data = sign(kit.unsigned(), key=leaf.key, certificate=leaf.certificate, chain=leaf.chain)
    outcome = check_packet(data, context=context, at=at, check_freshness=True)
    assert isinstance(outcome.error, KeystoreError)
    assert (outcome.error.code, str(outcome.error.reason)) == ("certificate_untrusted",
                                                                "weak_key")
