"""Shared test fixtures and markers.

Fixtures are small factories (sigstore's ``asset(name)``); PKIs come from ``keystore.ca``.
Tests that need an external program or server skip with a stated reason, unless CI says
the thing must be there (``DOCNODE_REQUIRE_*``), in which case they fail instead.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from keystore.ca import DevCA, IdentityFiles, Issued, KeyType, pem, write_identity

# PostgreSQL / RabbitMQ fixtures and markers (issue 8): pg_url, amqp, store_url, backend.
pytest_plugins = ("tests.servers",)

REPO = Path(__file__).resolve().parent.parent
SAMPLES_PATH = Path("fixtures") / "vnpt-sdk-samples"


def _shared_samples() -> Path:
    """The team's shared folder beside the checkout (``../shared``); a clone elsewhere (CI
    clones main into a fresh folder) names it with ``DOCNODE_SHARED_DIR``, or finds the
    workspace's ``/work/shared``."""
    candidates = [Path(os.environ["DOCNODE_SHARED_DIR"])] if os.environ.get(
        "DOCNODE_SHARED_DIR") else []
    candidates += [REPO.parent / "shared", Path("/work/shared")]
    for base in candidates:
        if (base / SAMPLES_PATH).is_dir():
            return base / SAMPLES_PATH
    return candidates[0] / SAMPLES_PATH


VNPT_SAMPLES = _shared_samples()


def require_tool(name: str, env: str) -> str:
    """Path of an external program, or skip (fail when ``env`` says it is required)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get(env):
            pytest.fail(f"{name} is required here ({env} is set) but not on PATH")
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return path


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    return require_tool("xmlsec1", "DOCNODE_REQUIRE_XMLSEC1")


@pytest.fixture(scope="session")
def vnpt_samples() -> Path:
    if not VNPT_SAMPLES.is_dir():
        message = (f"VNPT SDK samples not found at {VNPT_SAMPLES} (set DOCNODE_SHARED_DIR "
                   "to the shared/ folder)")
        if os.environ.get("DOCNODE_REQUIRE_VNPT_SAMPLES"):
            pytest.fail(message + "; DOCNODE_REQUIRE_VNPT_SAMPLES is set")
        pytest.skip(message)
    return VNPT_SAMPLES


# --- test PKI (keystore.ca) -----------------------------------------------------------
# One session-scoped development PKI with named certificates (pyHanko's certomancer
# scenarios). ``pki.valid`` etc. are ``keystore.ca.Issued`` (certificate, key, chain);
# ``pki.at`` is the moment the scenario is built around: validate "as of" it. The PKI is
# shared by the whole session: do not revoke or issue in it — a test that needs to change
# CA state makes its own ``DevCA.init(tmp_path / "ca", now=...)``.

PKI_PASSPHRASE = b"test-passphrase"
"""Passphrase of every key file ``Pki.write`` produces."""


@dataclass(frozen=True)
class TrustFiles:
    anchor: Path
    intermediates: Path
    crl: Path
    root_crl: Path


@dataclass(frozen=True)
class Pki:
    """Named test certificates. Signing certificates are for OrganId 000.00.00.G22
    (``valid_rsa``: 000.00.00.H41; ``no_organ_id``: none)."""

    ca: DevCA
    other_ca: DevCA
    rsa_ca: DevCA  # RSA root + issuing CA; issued `sha1`
    at: datetime
    identities: dict[str, Issued]

    # the names a scenario may ask for
    valid = property(lambda self: self.identities["valid"])  # P-256
    valid_rsa = property(lambda self: self.identities["valid_rsa"])  # RSA-2048
    expired = property(lambda self: self.identities["expired"])
    not_yet_valid = property(lambda self: self.identities["not_yet_valid"])
    revoked = property(lambda self: self.identities["revoked"])  # on pki.crl
    wrong_eku = property(lambda self: self.identities["wrong_eku"])  # clientAuth only
    no_non_repudiation = property(lambda self: self.identities["no_non_repudiation"])
    weak_key = property(lambda self: self.identities["weak_key"])  # RSA-1024
    sha1 = property(lambda self: self.identities["sha1"])  # SHA-1 signed by an RSA CA
    no_revocation_source = property(lambda self: self.identities["no_revocation_source"])
    no_organ_id = property(lambda self: self.identities["no_organ_id"])
    # a second root with the same subject names; this leaf has the same subject as `valid`
    other_root_same_name = property(lambda self: self.identities["other_root_same_name"])

    @property
    def root(self) -> x509.Certificate:
        return self.ca.root

    @property
    def issuing(self) -> x509.Certificate:
        return self.ca.issuing

    @property
    def other_root(self) -> x509.Certificate:
        return self.other_ca.root

    @property
    def crl(self) -> x509.CertificateRevocationList:
        """The issuing CA's CRL as of ``at`` (lists ``revoked``)."""
        return self.ca.crl(at=self.at)

    @property
    def root_crl(self) -> x509.CertificateRevocationList:
        return self.ca.crl(at=self.at, root=True)

    def write(
        self, name: str, directory: Path, *, passphrase: bytes = PKI_PASSPHRASE
    ) -> IdentityFiles:
        """Write identity ``name`` as encrypted key PEM, cert PEM, chain PEM and .p12."""
        return write_identity(self.identities[name], directory, passphrase=passphrase)

    def write_trust(self, directory: Path) -> TrustFiles:
        """Write the root (anchor), the issuing CA and both CRLs (as of ``at``) as PEM."""
        directory.mkdir(parents=True, exist_ok=True)
        files = TrustFiles(
            *(directory / n for n in ("root-ca.pem", "issuing-ca.pem", "crl.pem", "root-crl.pem"))
        )
        files.anchor.write_bytes(pem(self.root))
        files.intermediates.write_bytes(pem(self.issuing))
        files.crl.write_bytes(self.crl.public_bytes(serialization.Encoding.PEM))
        files.root_crl.write_bytes(self.root_crl.public_bytes(serialization.Encoding.PEM))
        return files


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    at = datetime.now(UTC).replace(microsecond=0)
    epoch = at - timedelta(days=3 * 365)  # the CAs predate every leaf, even `expired`
    base = tmp_path_factory.mktemp("pki")
    ca = DevCA.init(base / "ca", now=epoch)
    other = DevCA.init(base / "other-ca", now=epoch)  # same default names as `ca`
    rsa_ca = DevCA.init(base / "rsa-ca", now=epoch, key_type=KeyType.RSA2048)
    g22, name = "000.00.00.G22", "Văn phòng Bộ Nội vụ"
    start, end = at - timedelta(days=30), at + timedelta(days=365)
    ids: dict[str, Issued] = {
        "valid": ca.issue_signing(g22, name, valid_from=start, valid_until=end),
        "valid_rsa": ca.issue_signing(
            "000.00.00.H41",
            "Sở Nội vụ Hà Nội",
            valid_from=start,
            valid_until=end,
            key_type=KeyType.RSA2048,
        ),
        "expired": ca.issue_signing(
            g22, name, valid_from=at - timedelta(days=730), valid_until=at - timedelta(days=365)
        ),
        "not_yet_valid": ca.issue_signing(
            g22, name, valid_from=at + timedelta(days=30), valid_until=at + timedelta(days=400)
        ),
        "revoked": ca.issue_signing(g22, name, valid_from=start, valid_until=end),
        "wrong_eku": ca.issue_signing(
            g22, name, valid_from=start, valid_until=end, eku=[ExtendedKeyUsageOID.CLIENT_AUTH]
        ),
        "no_non_repudiation": ca.issue_signing(
            g22, name, valid_from=start, valid_until=end, non_repudiation=False
        ),
        "weak_key": ca.issue_signing(
            g22, name, valid_from=start, valid_until=end, key_type=KeyType.INSECURE_RSA1024
        ),
        "sha1": rsa_ca.issue_signing(
            g22, name, valid_from=start, valid_until=end, insecure_sha1=True
        ),
        "no_revocation_source": ca.issue_signing(
            g22, name, valid_from=start, valid_until=end, crl_url=None, ocsp_url=None
        ),
        "no_organ_id": ca.issue_signing(None, name, valid_from=start, valid_until=end),
        "other_root_same_name": other.issue_signing(g22, name, valid_from=start, valid_until=end),
    }
    ca.revoke(ids["revoked"].certificate, at=at - timedelta(days=1))
    return Pki(ca=ca, other_ca=other, rsa_ca=rsa_ca, at=at, identities=ids)
