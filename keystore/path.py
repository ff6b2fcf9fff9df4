"""Certificate path rules for document signing (rules 1-3 of :mod:`keystore.trust`).

cryptography's path builder runs with the extension policies defined here (its stock
client verifier demands clientAuth and accepts an RSA-1024 leaf). When it refuses a path,
:func:`walk` rebuilds one by names and signatures only, so that the refusal can be named
exactly (``untrusted_root``, ``expired``, ``weak_algorithm``, …); under the legacy SHA-1
flag the walker's path, checked here, is the path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.verification import Criticality, ExtensionPolicy, Policy

from keystore.binding import fingerprint
from keystore.errors import CertificateUntrusted, Reason
from keystore.policy import TrustPolicy

MAX_CHAIN_DEPTH = 6
"""Longest path tried (leaf + CAs)."""


def untrusted(reason: Reason, message: str) -> CertificateUntrusted:
    return CertificateUntrusted(message, reason=reason)


def is_weak_hash(cert: x509.Certificate) -> bool:
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
            if not isinstance(params, padding.PKCS1v15 | padding.PSS):
                return False
            key.verify(cert.signature, cert.tbs_certificate_bytes, params, algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(params, ec.ECDSA):
            key.verify(cert.signature, cert.tbs_certificate_bytes, params)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def key_problem(cert: x509.Certificate, policy: TrustPolicy) -> str | None:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < policy.min_rsa_bits:
        return f"RSA-{key.key_size} key"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < policy.min_ec_bits:
        return f"EC-{key.curve.key_size} key"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA key"
    return None


def validity_problem(cert: x509.Certificate, at: datetime) -> Reason | None:
    if at < cert.not_valid_before_utc:
        return Reason.NOT_YET_VALID
    if at > cert.not_valid_after_utc:
        return Reason.EXPIRED
    return None


def usable_ca(cert: x509.Certificate, below: int) -> bool:
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


CA_POLICY = (
    ExtensionPolicy.permit_all()
    .require_present(x509.BasicConstraints, Criticality.AGNOSTIC, _ca_basic_constraints)
    .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _ca_key_usage)
)
EE_POLICY = ExtensionPolicy.permit_all().may_be_present(
    x509.BasicConstraints, Criticality.AGNOSTIC, _ee_basic_constraints
)


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def check_leaf_usage(
    leaf: x509.Certificate, path: tuple[x509.Certificate, ...], policy: TrustPolicy
) -> None:
    if is_ca(leaf):
        raise untrusted(Reason.WRONG_KEY_USAGE, "a CA certificate cannot sign documents")
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise untrusted(Reason.WRONG_KEY_USAGE, "the certificate has no keyUsage") from None
    if not ku.digital_signature or (policy.require_non_repudiation and not ku.content_commitment):
        raise untrusted(Reason.WRONG_KEY_USAGE, "keyUsage lacks digitalSignature or nonRepudiation")
    if policy.eku_allow_list & {fingerprint(c) for c in path}:
        return  # a national CA (or leaf) vouched for explicitly in the trust config
    try:
        ekus = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise untrusted(Reason.WRONG_EKU, "the certificate has no extendedKeyUsage") from None
    if not {e.dotted_string for e in ekus} & policy.accepted_ekus:
        raise untrusted(Reason.WRONG_EKU, "no accepted EKU (documentSigning)")


def walk(
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


# What the walker (legacy path only) understands; any other critical extension — name
# constraints and policy constraints included — refuses the legacy path.
_WALKER_KNOWS = (
    x509.BasicConstraints,
    x509.KeyUsage,
    x509.ExtendedKeyUsage,
    x509.SubjectAlternativeName,
    x509.CertificatePolicies,
)


def legacy_walkable(cert: x509.Certificate) -> bool:
    """Whether every critical extension of ``cert`` is one the walker checks or may
    ignore (used only before accepting a SHA-1 path under ``allow_sha1``)."""
    return all(isinstance(ext.value, _WALKER_KNOWS) for ext in cert.extensions if ext.critical)
