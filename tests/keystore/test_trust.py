"""Path validation, policy and revocation with the shared test PKI (tests/conftest.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from keystore import ocsp
from keystore.ca import DevCA, KeyType
from keystore.errors import (
    CertificateRevoked,
    CertificateUntrusted,
    Reason,
    RevocationUnknown,
    TrustConfigInvalid,
)
from keystore.trust import (
    OrganIdBinding,
    RevocationRule,
    RevocationSource,
    RevocationState,
    TrustPolicy,
    TrustStore,
    expiring,
    fingerprint,
    organ_id_mapping_from,
    organ_ids_of,
)

G22 = ("000.00.00.G22",)


def store_for(pki: Any, *, crls: bool = True, root_crl: bool = False) -> TrustStore:
    material = ([pki.crl] if crls else []) + ([pki.root_crl] if root_crl else [])
    return TrustStore(anchors=[pki.root], intermediates=[pki.issuing], crls=material)


def untrusted_reason(store: TrustStore, issued: Any, at: Any, **kw: Any) -> Reason | None:
    with pytest.raises(CertificateUntrusted) as info:
        store.validate(issued.certificate, issued.chain, at=at, **kw)
    assert info.value.code == "certificate_untrusted"
    return info.value.reason


# -- happy paths -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["valid", "valid_rsa"])
def test_valid_certificate(pki: Any, name: str) -> None:
    issued = getattr(pki, name)
    result = store_for(pki).validate(issued.certificate, issued.chain, at=pki.at)
    assert result.anchor == pki.root
    assert result.path == (issued.certificate, pki.issuing, pki.root)
    assert result.leaf == issued.certificate
    assert result.organ_ids == organ_ids_of(issued.certificate)
    assert result.revocation.state is RevocationState.GOOD
    assert result.revocation.source is RevocationSource.CRL
    assert result.revocation.rule is RevocationRule.REQUIRED
    assert result.checked_at == pki.at
    assert not result.legacy


def test_organ_ids_from_subject(pki: Any) -> None:
    assert organ_ids_of(pki.valid.certificate) == G22
    assert organ_ids_of(pki.valid_rsa.certificate) == ("000.00.00.H41",)


def test_intermediate_from_the_packet_only(pki: Any) -> None:
    store = TrustStore(anchors=[pki.root], crls=[pki.crl])
    result = store.validate(pki.valid.certificate, [pki.issuing], at=pki.at)
    assert result.path[1] == pki.issuing


def test_required_all_checks_every_certificate_below_the_anchor(pki: Any) -> None:
    policy = TrustPolicy(revocation=RevocationRule.REQUIRED_ALL)
    with pytest.raises(RevocationUnknown) as info:
        store_for(pki).validate(pki.valid.certificate, at=pki.at, policy=policy)
    assert info.value.reason is Reason.CRL_MISSING  # the root's CRL for the issuing CA
    result = store_for(pki, root_crl=True).validate(pki.valid.certificate, at=pki.at, policy=policy)
    assert [c.state for c in result.revocation.checks] == [RevocationState.GOOD] * 2
    # under `required` the issuing CA is checked only where data exists
    plain = store_for(pki).validate(pki.valid.certificate, at=pki.at)
    assert [c.state for c in plain.revocation.checks] == [
        RevocationState.GOOD,
        RevocationState.UNKNOWN,
    ]


# -- each failure reason --------------------------------------------------------------------


def test_expired(pki: Any) -> None:
    assert untrusted_reason(store_for(pki), pki.expired, pki.at) is Reason.EXPIRED


def test_not_yet_valid(pki: Any) -> None:
    assert untrusted_reason(store_for(pki), pki.not_yet_valid, pki.at) is Reason.NOT_YET_VALID


def test_expired_certificate_was_valid_in_the_past(pki: Any) -> None:
    # `at` is honoured: an auditor checks as of the day a packet was received
    then = pki.expired.certificate.not_valid_before_utc + timedelta(days=10)
    store = TrustStore(anchors=[pki.root], intermediates=[pki.issuing], crls=[pki.ca.crl(at=then)])
    result = store.validate(pki.expired.certificate, at=then)
    assert result.checked_at == then


def test_revoked(pki: Any) -> None:
    with pytest.raises(CertificateRevoked) as info:
        store_for(pki).validate(pki.revoked.certificate, at=pki.at)
    assert info.value.code == "certificate_revoked"
    assert info.value.reason is Reason.REVOKED
    assert info.value.revoked_at == pki.at - timedelta(days=1)
    assert info.value.crl_reason == "keyCompromise"
    # before its revocation date the same certificate was good
    before = pki.at - timedelta(days=2)
    result = store_for(pki).validate(pki.revoked.certificate, at=before)
    assert result.revocation.state is RevocationState.GOOD


def test_untrusted_root_with_the_same_names(pki: Any) -> None:
    reason = untrusted_reason(store_for(pki), pki.other_root_same_name, pki.at)
    assert reason is Reason.UNTRUSTED_ROOT


def test_wrong_eku_client_auth_is_not_document_signing(pki: Any) -> None:
    assert untrusted_reason(store_for(pki), pki.wrong_eku, pki.at) is Reason.WRONG_EKU


def test_eku_allow_list_for_national_cas(pki: Any) -> None:
    policy = TrustPolicy(eku_allow_list=frozenset({fingerprint(pki.issuing)}))
    result = store_for(pki).validate(pki.wrong_eku.certificate, at=pki.at, policy=policy)
    assert result.organ_ids == G22
    by_leaf = TrustPolicy(eku_allow_list=frozenset({fingerprint(pki.wrong_eku.certificate)}))
    store_for(pki).validate(pki.wrong_eku.certificate, at=pki.at, policy=by_leaf)


def test_wrong_key_usage(pki: Any) -> None:
    reason = untrusted_reason(store_for(pki), pki.no_non_repudiation, pki.at)
    assert reason is Reason.WRONG_KEY_USAGE
    lax = TrustPolicy(require_non_repudiation=False)
    store_for(pki).validate(pki.no_non_repudiation.certificate, at=pki.at, policy=lax)
    # a CA certificate is not a document signer
    store = TrustStore(anchors=[pki.root], crls=[pki.root_crl])
    with pytest.raises(CertificateUntrusted) as info:
        store.validate(pki.issuing, at=pki.at, policy=TrustPolicy(require_organ_id=False))
    assert info.value.reason is Reason.WRONG_KEY_USAGE


def test_weak_key(pki: Any) -> None:
    assert untrusted_reason(store_for(pki), pki.weak_key, pki.at) is Reason.WEAK_KEY


def test_weak_ca_key(tmp_path: Path, pki: Any) -> None:
    ca = DevCA.init(
        tmp_path / "weak", now=pki.at - timedelta(days=1), key_type=KeyType.INSECURE_RSA1024
    )
    leaf = ca.issue_signing("G22", "x", valid_from=pki.at - timedelta(hours=1))
    store = TrustStore(anchors=[ca.root], crls=[ca.crl(at=pki.at)])
    assert untrusted_reason(store, leaf, pki.at) is Reason.WEAK_KEY


def test_sha1_signature_is_a_weak_algorithm_unless_legacy(pki: Any) -> None:
    store = TrustStore(anchors=[pki.rsa_ca.root], crls=[pki.rsa_ca.crl(at=pki.at)])
    assert untrusted_reason(store, pki.sha1, pki.at) is Reason.WEAK_ALGORITHM
    legacy = TrustPolicy(allow_sha1=True)
    result = store.validate(pki.sha1.certificate, pki.sha1.chain, at=pki.at, policy=legacy)
    assert result.legacy
    assert result.anchor == pki.rsa_ca.root


def test_no_organ_id_and_explicit_mapping(pki: Any) -> None:
    cert = pki.no_organ_id.certificate
    assert untrusted_reason(store_for(pki), pki.no_organ_id, pki.at) is Reason.NO_ORGAN_ID
    by_fp = TrustPolicy(organ_id_mapping=organ_id_mapping_from({fingerprint(cert): ["H41"]}))
    assert store_for(pki).validate(cert, at=pki.at, policy=by_fp).organ_ids == ("H41",)
    by_serial = organ_id_mapping_from(
        by_issuer_serial=[(cert.issuer.rfc4514_string(), cert.serial_number, ["H42", "H43"])]
    )
    assert organ_ids_of(cert, by_serial) == ("H42", "H43")
    # an explicit binding wins over the subject attribute
    assert organ_ids_of(pki.valid.certificate, by_fp.organ_id_mapping) == G22
    rebind = (OrganIdBinding.by_fingerprint(fingerprint(pki.valid.certificate), ["X1"]),)
    assert organ_ids_of(pki.valid.certificate, rebind) == ("X1",)


def test_missing_intermediate_is_untrusted(pki: Any) -> None:
    store = TrustStore(anchors=[pki.root], crls=[pki.crl])
    with pytest.raises(CertificateUntrusted) as info:
        store.validate(pki.valid.certificate, at=pki.at)
    assert info.value.reason is Reason.UNTRUSTED_ROOT


# -- revocation data -------------------------------------------------------------------


def test_required_revocation_fails_closed(pki: Any) -> None:
    with pytest.raises(RevocationUnknown) as info:
        store_for(pki, crls=False).validate(pki.valid.certificate, at=pki.at)
    assert info.value.code == "revocation_unknown"
    assert info.value.reason is Reason.CRL_MISSING
    stale_at = pki.at + timedelta(days=8)  # CRL nextUpdate is at + 7 days
    with pytest.raises(RevocationUnknown) as info:
        store_for(pki).validate(pki.valid.certificate, at=stale_at)
    assert info.value.reason is Reason.CRL_STALE


def test_crl_signed_by_a_look_alike_ca_is_ignored(pki: Any) -> None:
    forged = pki.other_ca.crl(at=pki.at)  # same issuer name, other key
    assert forged.issuer == pki.issuing.subject
    store = TrustStore(anchors=[pki.root], intermediates=[pki.issuing], crls=[forged])
    with pytest.raises(RevocationUnknown) as info:
        store.validate(pki.valid.certificate, at=pki.at)
    assert info.value.reason is Reason.CRL_MISSING


def test_no_revocation_source_is_not_waved_through(pki: Any) -> None:
    cert = pki.no_revocation_source.certificate
    with pytest.raises(RevocationUnknown) as info:
        store_for(pki).validate(cert, at=pki.at)
    assert info.value.reason is Reason.NO_REVOCATION_SOURCE
    best = TrustPolicy(revocation=RevocationRule.BEST_EFFORT)
    assert store_for(pki).validate(cert, at=pki.at, policy=best).revocation.state is (
        RevocationState.GOOD  # best-effort uses the CRL that happens to be there
    )
    nothing = store_for(pki, crls=False).validate(cert, at=pki.at, policy=best)
    assert nothing.revocation.state is RevocationState.UNKNOWN
    off = TrustPolicy(revocation=RevocationRule.OFF)
    result = store_for(pki, crls=False).validate(cert, at=pki.at, policy=off)
    assert result.revocation.state is RevocationState.NOT_CHECKED


def test_best_effort_still_rejects_a_listed_certificate(pki: Any) -> None:
    best = TrustPolicy(revocation=RevocationRule.BEST_EFFORT)
    with pytest.raises(CertificateRevoked):
        store_for(pki).validate(pki.revoked.certificate, at=pki.at, policy=best)


def _ocsp_answer(pki: Any, cert: x509.Certificate, status: ocsp.OcspCertStatus) -> bytes:
    return ocsp.build_response(
        cert=cert,
        issuer=pki.issuing,
        responder_cert=pki.issuing,
        responder_key=pki.ca.issuing_key,
        status=status,
        this_update=pki.at - timedelta(minutes=1),
        next_update=pki.at + timedelta(hours=1),
        revoked_at=pki.at - timedelta(days=1),
        revocation_reason=x509.ReasonFlags.key_compromise,
    )


def test_ocsp_responses_as_input(pki: Any) -> None:
    store = store_for(pki, crls=False)
    good = _ocsp_answer(pki, pki.valid.certificate, ocsp.OcspCertStatus.GOOD)
    result = store.validate(pki.valid.certificate, at=pki.at, ocsp_responses=[good])
    assert result.revocation.source is RevocationSource.OCSP
    revoked = _ocsp_answer(pki, pki.valid.certificate, ocsp.OcspCertStatus.REVOKED)
    with pytest.raises(CertificateRevoked):
        store.validate(pki.valid.certificate, at=pki.at, ocsp_responses=[revoked])
    # an answer about another certificate is no answer; no CRL either → indeterminate
    other = _ocsp_answer(pki, pki.valid_rsa.certificate, ocsp.OcspCertStatus.GOOD)
    with pytest.raises(RevocationUnknown):
        store.validate(pki.valid.certificate, at=pki.at, ocsp_responses=[other])
    # "unknown" from the responder falls back to the CRL
    unknown = _ocsp_answer(pki, pki.valid.certificate, ocsp.OcspCertStatus.UNKNOWN)
    result = store_for(pki).validate(pki.valid.certificate, at=pki.at, ocsp_responses=[unknown])
    assert result.revocation.source is RevocationSource.CRL


# -- cache --------------------------------------------------------------------------------


def test_cache_is_hit_and_invalidated_by_a_new_crl(tmp_path: Path, pki: Any) -> None:
    ca = DevCA.init(tmp_path / "ca", now=pki.at - timedelta(days=1))
    leaf = ca.issue_signing("G22", "x", valid_from=pki.at - timedelta(hours=1)).certificate
    store = TrustStore(anchors=[ca.root], intermediates=[ca.issuing], crls=[ca.crl(at=pki.at)])
    first = store.validate(leaf, at=pki.at)
    for _ in range(99):
        assert store.validate(leaf, at=pki.at) is first
    info = store.cache_info()
    assert (info.hits, info.misses, info.size) == (99, 1, 1)
    # another policy is another entry
    store.validate(leaf, at=pki.at, policy=TrustPolicy(revocation=RevocationRule.BEST_EFFORT))
    assert store.cache_info().misses == 2
    ca.revoke(leaf, at=pki.at - timedelta(minutes=1))
    store.add_crl(ca.crl(at=pki.at))
    assert store.version == 1 and store.cache_info().size == 0
    with pytest.raises(CertificateRevoked):
        store.validate(leaf, at=pki.at)
    assert store.cache_info().hits == 99


def test_cache_never_serves_a_result_outside_its_validity(tmp_path: Path, pki: Any) -> None:
    ca = DevCA.init(tmp_path / "ca", now=pki.at - timedelta(days=1))
    ends = pki.at + timedelta(seconds=1)
    leaf = ca.issue_signing("G22", "x", valid_from=pki.at - timedelta(hours=1), valid_until=ends)
    store = TrustStore(anchors=[ca.root], intermediates=[ca.issuing], crls=[ca.crl(at=pki.at)])
    store.validate(leaf.certificate, at=pki.at)
    with pytest.raises(CertificateUntrusted) as info:
        store.validate(leaf.certificate, at=ends + timedelta(seconds=1))
    assert info.value.reason is Reason.EXPIRED


# -- cryptography's ready-made verifier: the traps we avoid --------------------------------


def test_stock_client_verifier_demands_client_auth(pki: Any) -> None:
    verifier = PolicyBuilder().store(Store([pki.root])).time(pki.at).build_client_verifier()
    with pytest.raises(VerificationError):
        verifier.verify(pki.valid.certificate, [pki.issuing])
    # ... which our store accepts
    store_for(pki).validate(pki.valid.certificate, at=pki.at)


def test_stock_client_verifier_accepts_rsa1024_and_checks_no_revocation(
    tmp_path: Path, pki: Any
) -> None:
    ca = DevCA.init(tmp_path / "ca", now=pki.at - timedelta(days=1))
    weak = ca.issue_tls(
        "weak", valid_from=pki.at - timedelta(hours=1), dns_names=["weak.example"],
        server=False, client=True, key_type=KeyType.INSECURE_RSA1024,
    ).certificate  # fmt: skip
    ca.revoke(weak, at=pki.at - timedelta(minutes=5))
    verifier = PolicyBuilder().store(Store([ca.root])).time(pki.at).build_client_verifier()
    chain = verifier.verify(weak, [ca.issuing]).chain  # RSA-1024, revoked: accepted
    assert chain[0] == weak
    store = TrustStore(anchors=[ca.root], intermediates=[ca.issuing], crls=[ca.crl(at=pki.at)])
    policy = TrustPolicy(accepted_ekus=frozenset({ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string}))
    with pytest.raises(CertificateUntrusted) as info:
        store.validate(weak, at=pki.at, policy=replace(policy, require_non_repudiation=False))
    assert info.value.reason is Reason.WEAK_KEY
    strong = ca.issue_tls(
        "strong", valid_from=pki.at - timedelta(hours=1), dns_names=["s.example"],
        server=False, client=True,
    ).certificate  # fmt: skip
    ca.revoke(strong, at=pki.at - timedelta(minutes=5))
    verifier.verify(strong, [ca.issuing])  # revoked, and the stock verifier cannot tell
    store.add_crl(ca.crl(at=pki.at))
    lax = replace(policy, require_non_repudiation=False, require_organ_id=False)
    with pytest.raises(CertificateRevoked):
        store.validate(strong, at=pki.at, policy=lax)


# -- construction and loading ------------------------------------------------------------


def test_empty_anchor_set_is_refused() -> None:
    with pytest.raises(TrustConfigInvalid) as info:
        TrustStore(anchors=[])
    assert info.value.code == "trust_config_invalid"


def test_an_empty_store_asked_for_trusts_nothing(pki: Any) -> None:
    store = TrustStore(anchors=[], allow_no_anchor=True)
    with pytest.raises(CertificateUntrusted) as info:
        store.validate(pki.valid.certificate, pki.valid.chain, at=pki.at)
    assert info.value.reason is Reason.UNTRUSTED_ROOT


def test_contradictory_policy_is_refused() -> None:
    with pytest.raises(TrustConfigInvalid):
        TrustPolicy(accepted_ekus=frozenset())
    with pytest.raises(TrustConfigInvalid):
        TrustPolicy(eku_allow_list=frozenset({"not-a-fingerprint"}))


def test_naive_time_is_refused(pki: Any) -> None:
    with pytest.raises(TrustConfigInvalid):
        store_for(pki).validate(pki.valid.certificate, at=pki.at.replace(tzinfo=None))


def test_from_files_and_folders(pki: Any, tmp_path: Path) -> None:
    files = pki.write_trust(tmp_path / "trust")
    store = TrustStore.from_files([files.anchor], [files.intermediates], [files.crl])
    store.validate(pki.valid.certificate, at=pki.at)
    folder = TrustStore.from_files([tmp_path / "trust"], (), [tmp_path / "trust"])
    assert pki.root in folder.anchors and len(folder.crls) == 2
    (tmp_path / "junk.pem").write_bytes(b"not pem")
    with pytest.raises(TrustConfigInvalid):
        TrustStore.from_files([tmp_path / "junk.pem"])
    with pytest.raises(TrustConfigInvalid):
        TrustStore.from_files([tmp_path / "missing.pem"])


def test_expiring(pki: Any) -> None:
    certs = [pki.valid.certificate, pki.expired.certificate, pki.root, pki.valid.certificate]
    soon = expiring(certs, within=timedelta(days=30), at=pki.at)
    assert [e.certificate for e in soon] == [pki.expired.certificate]
    assert soon[0].days_left < 0
    year = expiring(certs, within=timedelta(days=366), at=pki.at)
    assert [e.certificate for e in year] == [pki.expired.certificate, pki.valid.certificate]
    assert year[1].fingerprint == fingerprint(pki.valid.certificate)


def test_ocsp_only_leaf_without_an_answer_is_ocsp_unavailable(tmp_path: Path, pki: Any) -> None:
    ca = DevCA.init(tmp_path / "ca", now=pki.at - timedelta(days=1), ocsp_url="http://127.0.0.1:1/")
    leaf = ca.issue_signing("G22", "x", valid_from=pki.at - timedelta(hours=1), crl_url=None)
    store = TrustStore(anchors=[ca.root], intermediates=[ca.issuing])
    with pytest.raises(RevocationUnknown) as info:
        store.validate(leaf.certificate, at=pki.at)
    assert info.value.reason is Reason.OCSP_UNAVAILABLE


def test_revoked_issuing_ca_is_caught_where_its_issuer_publishes(tmp_path: Path, pki: Any) -> None:
    ca = DevCA.init(tmp_path / "ca", now=pki.at - timedelta(days=1))
    leaf = ca.issue_signing("G22", "x", valid_from=pki.at - timedelta(hours=1)).certificate
    ca.revoke(ca.issuing, at=pki.at - timedelta(minutes=1))
    crls = [ca.crl(at=pki.at), ca.crl(at=pki.at, root=True)]
    store = TrustStore(anchors=[ca.root], intermediates=[ca.issuing], crls=crls)
    with pytest.raises(CertificateRevoked):
        store.validate(leaf, at=pki.at)  # `required`: the CA is checked because data exists
    with pytest.raises(CertificateRevoked):
        store.validate(leaf, at=pki.at, policy=TrustPolicy(revocation=RevocationRule.BEST_EFFORT))


def test_legacy_walker_refuses_critical_extensions_it_does_not_check(pki: Any) -> None:
    from cryptography.hazmat.primitives import hashes

    from keystore.ca import KeyType, generate_key
    from keystore.path import legacy_walkable

    assert all(legacy_walkable(c) for c in (pki.valid.certificate, pki.issuing, pki.root))
    key = generate_key(KeyType.P256)
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "constrained")])
    constrained = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(pki.at).not_valid_after(pki.at + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.NameConstraints([x509.DNSName("example")], None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    assert not legacy_walkable(constrained)


def test_cache_is_per_time_bucket(pki: Any) -> None:
    store = store_for(pki)
    store.validate(pki.valid.certificate, at=pki.at)
    store.validate(pki.valid.certificate, at=pki.at + timedelta(hours=1))
    assert store.cache_info().misses == 2 and store.cache_info().size == 2


@pytest.mark.parametrize(
    ("name", "ours_accepts"),
    [("valid", True), ("valid_rsa", True), ("revoked", False), ("expired", False),
     ("other_root_same_name", False)],
)  # fmt: skip
def test_agrees_with_openssl_verify(
    pki: Any, tmp_path: Path, name: str, ours_accepts: bool
) -> None:
    # an independent implementation of path + CRL checking (h11's test against stdlib)
    import shutil
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    trust = pki.write_trust(tmp_path / "trust")
    issued = getattr(pki, name)
    leaf = pki.write(name, tmp_path / "leaf")
    chain = tmp_path / "chain.pem"
    chain.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in issued.chain))
    run = subprocess.run(
        [openssl, "verify", "-CAfile", trust.anchor, "-untrusted", chain, "-crl_check",
         "-CRLfile", trust.crl, "-attime", str(int(pki.at.timestamp())), leaf.cert],
        check=False, capture_output=True,
    )  # fmt: skip
    assert (run.returncode == 0) is ours_accepts
    try:
        store_for(pki).validate(issued.certificate, issued.chain, at=pki.at)
        accepted = True
    except (CertificateUntrusted, CertificateRevoked):
        accepted = False
    assert accepted is ours_accepts


def _scoped_crl(pki: Any, extension: x509.ExtensionType) -> x509.CertificateRevocationList:
    from cryptography.hazmat.primitives import hashes

    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.issuing.subject)
        .last_update(pki.at - timedelta(minutes=1))
        .next_update(pki.at + timedelta(days=1))
        .add_extension(extension, critical=True)
        .sign(pki.ca.issuing_key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    "extension",
    [
        x509.DeltaCRLIndicator(1),
        x509.IssuingDistributionPoint(
            full_name=[x509.UniformResourceIdentifier("http://elsewhere.example/other.crl")],
            relative_name=None, only_contains_user_certs=False, only_contains_ca_certs=False,
            only_some_reasons=None, indirect_crl=False, only_contains_attribute_certs=False,
        ),
        x509.IssuingDistributionPoint(
            full_name=None, relative_name=None, only_contains_user_certs=False,
            only_contains_ca_certs=True, only_some_reasons=None, indirect_crl=False,
            only_contains_attribute_certs=False,
        ),
    ],
    ids=["delta", "other_partition", "ca_only"],
)  # fmt: skip
def test_crls_that_do_not_cover_the_certificate_are_not_used(
    pki: Any, extension: x509.ExtensionType
) -> None:
    crl = _scoped_crl(pki, extension)
    store = TrustStore(anchors=[pki.root], intermediates=[pki.issuing], crls=[crl])
    with pytest.raises(RevocationUnknown) as info:
        store.validate(pki.valid.certificate, at=pki.at)
    assert info.value.reason is Reason.CRL_MISSING


def test_crl_scoped_to_the_certificates_distribution_point_is_used(pki: Any) -> None:
    idp = x509.IssuingDistributionPoint(
        full_name=[x509.UniformResourceIdentifier(pki.ca.crl_url)], relative_name=None,
        only_contains_user_certs=True, only_contains_ca_certs=False, only_some_reasons=None,
        indirect_crl=False, only_contains_attribute_certs=False,
    )  # fmt: skip
    store = TrustStore(
        anchors=[pki.root], intermediates=[pki.issuing], crls=[_scoped_crl(pki, idp)]
    )
    result = store.validate(pki.valid.certificate, at=pki.at)
    assert result.revocation.source is RevocationSource.CRL
