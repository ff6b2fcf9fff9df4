"""The typed, frozen settings of ``docnode.toml`` (DESIGN §9). Values only: loading and
validating live in :mod:`docnode.config.load`. Secrets are never fields here (rule 4 of
:mod:`docnode.config`): the methods that need one read it from env or file on demand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from docnode.errors import ConfigInvalid
from envelopes.limits import Limits, MiB


class Role(StrEnum):
    AGENCY = "agency"
    AXIS = "axis"


class RevocationMode(StrEnum):
    """Same values as ``keystore.trust.RevocationRule`` (convert with ``RevocationRule(v)``)."""

    REQUIRED = "required"
    REQUIRED_ALL = "required-all"
    BEST_EFFORT = "best-effort"
    OFF = "off"


class SignaturePolicyMode(StrEnum):
    REQUIRED = "required"
    LEGACY_ALLOWED = "legacy-allowed"
    """DANGEROUS: accepts unsigned/legacy packets from an authenticated axis, marked unverified."""


class QueueBackend(StrEnum):
    SQL = "sql"
    AMQP = "amqp"


class BlobBackend(StrEnum):
    """Where payload bytes live (DESIGN §5): files under ``blobs_dir`` (default), or the
    store's ``blobs`` table, for several machines sharing one store (issue 8)."""

    FILESYSTEM = "filesystem"
    DATABASE = "database"


class SqliteSynchronous(StrEnum):
    """``PRAGMA synchronous`` for SQLite. FULL (default) fsyncs the WAL at every commit, so a
    202 survives a power cut; NORMAL survives a process crash but may lose the last commits on
    power loss or an OS crash."""

    FULL = "full"
    NORMAL = "normal"


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True, order=True)
class HostPort:
    """A listen address ``HOST:PORT`` (IPv6 as ``[::1]:8701``); port 0 = any free port."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> HostPort:
        """Parse ``HOST:PORT``; raises ``ValueError`` with a short reason."""
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError("expected HOST:PORT")
        if host.startswith("["):
            if not host.endswith("]"):
                raise ValueError("expected [IPv6]:PORT")
            host = host[1:-1]
        if not 0 <= int(port) <= 65535:
            raise ValueError("port must be 0..65535")
        return cls(host, int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class NodeSettings:
    organ_ids: tuple[str, ...]
    """OrganIds this node speaks for (strict form); the first one is the default sender."""
    name: str
    names: Mapping[str, str]
    """Optional display name per OrganId; :meth:`name_of` falls back to ``name``."""
    role: Role
    data_dir: Path

    def name_of(self, organ_id: str) -> str:
        """Display name of one of our OrganIds."""
        return self.names.get(organ_id, self.name)


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    key: Path | None
    cert: Path | None
    chain: tuple[Path, ...]
    pkcs12: Path | None
    passphrase_env: str | None
    passphrase_file: Path | None

    def read_passphrase(self, environ: Mapping[str, str]) -> bytes | None:
        """The key passphrase from the named env var or file (``None`` if the key is not
        encrypted). Raises ``ConfigInvalid`` naming what is missing, never the value."""
        return _read_secret("identity", "passphrase", self.passphrase_env,
                            self.passphrase_file, environ)


@dataclass(frozen=True, slots=True)
class TrustSettings:
    anchors: tuple[Path, ...]
    intermediates: tuple[Path, ...]
    crls: tuple[Path, ...]
    revocation: RevocationMode
    signature_policy: SignaturePolicyMode
    organ_id_map: Mapping[str, tuple[str, ...]]
    """Certificate SHA-256 fingerprint (lowercase hex) -> OrganIds, for certificates that do
    not carry ``organizationIdentifier``."""
    eku_allowlist: tuple[str, ...]
    """EKU OIDs accepted besides documentSigning (1.3.6.1.5.5.7.3.36), and/or SHA-256
    fingerprints (lowercase hex) of CA certificates whose leaves are accepted without it."""
    min_rsa_bits: int
    ocsp: bool
    """Whether to fetch OCSP when a certificate names a responder."""


@dataclass(frozen=True, slots=True)
class StoreSettings:
    url: str = field(repr=False)
    """Async SQLAlchemy URL (``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``);
    ``repr=False`` because a URL from ``url_env`` may hold a password."""
    blobs_dir: Path
    sqlite_synchronous: SqliteSynchronous
    busy_timeout_ms: int
    blobs: BlobBackend = BlobBackend.FILESYSTEM
    """``database`` when several machines share the store (``blobs_dir`` is then unused)."""


@dataclass(frozen=True, slots=True)
class QueueSettings:
    backend: QueueBackend
    amqp_url: str | None = field(repr=False)
    amqp_prefix: str = "docnode"
    """Prefix of the exchange and queue names (``docnode.work``, ``docnode.dead``, …): nodes
    sharing one broker vhost need different prefixes."""
    prefetch: int = 0
    """Unacknowledged messages a process may hold (AMQP QoS); 0 = 2 × ``[delivery]
    workers``. Small values spread the work evenly over the processes."""
    republish_after_s: float = 300.0
    """The relay's safety net: an item published but still not taken after this long is
    published again (consumers are idempotent, so a second copy is harmless)."""


@dataclass(frozen=True, slots=True)
class ListenSettings:
    direct: HostPort | None
    api: HostPort | None
    tls_cert: Path | None
    tls_key: Path | None
    tls_client_ca: Path | None
    """When set, the direct listener requires a client certificate issued by this CA."""


@dataclass(frozen=True, slots=True)
class PeerSettings:
    organ_ids: tuple[str, ...]
    url: str
    name: str
    tls_ca: Path | None
    """CA to verify the peer's HTTPS server certificate (default: the system's)."""
    client_cert: Path | None
    client_key: Path | None


@dataclass(frozen=True, slots=True)
class AxisSettings:
    url: str
    system_id: str
    secret_env: str | None
    secret_file: Path | None
    poll_interval_s: float
    directory_sync_s: float = 3600.0
    """How often getAgenciesList refreshes the stored directory (``docnode.axis_poller``)."""

    def read_secret(self, environ: Mapping[str, str]) -> bytes:
        """The VXP HMAC secret from the env var or file; ``ConfigInvalid`` if missing."""
        secret = _read_secret("axis", "secret", self.secret_env, self.secret_file, environ)
        if secret is None:
            raise ConfigInvalid(["[axis] secret_env / secret_file: one is required"])
        return secret


@dataclass(frozen=True, slots=True)
class AxisAgencySettings:
    """One agency of an axis's registry (``[[axis_systems.agencies]]``, role = "axis"): the
    OrganId its system sends and receives as, and what getAgenciesList says of it."""

    organ_id: str
    name: str = ""
    mail: str = ""
    parent: str = ""
    """The parent agency's OrganId (getAgenciesList ``pid``), if any."""


@dataclass(frozen=True, slots=True)
class AxisSystemSettings:
    """One client system of an axis (``[[axis_systems]]``, role = "axis")."""

    system_id: str
    secret_env: str | None
    secret_file: Path | None
    name: str = ""
    agencies: tuple[AxisAgencySettings, ...] = ()

    def read_secret(self, environ: Mapping[str, str]) -> bytes:
        """The system's HMAC secret from the env var or file; ``ConfigInvalid`` if missing."""
        where = f"axis_systems {self.system_id}"
        secret = _read_secret(where, "secret", self.secret_env, self.secret_file, environ)
        if not secret:
            raise ConfigInvalid([f"[{where}] secret_env / secret_file: a non-empty secret "
                                 "is required"])
        return secret


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    request_timeout_s: float
    max_attempts: int
    backoff_initial_s: float
    backoff_max_s: float
    max_age_s: float
    lease_s: float
    workers: int


@dataclass(frozen=True, slots=True)
class LimitsSettings:
    max_packet_mb: int
    max_attachments: int
    max_attachment_mb: int
    max_total_attachment_mb: int
    max_depth: int
    freshness_past_s: int
    clock_skew_s: int
    peer_rate_per_s: float = 100.0
    """Direct listener: sustained requests per second from one peer (429 beyond)."""
    peer_burst: int = 400
    """Direct listener: requests one peer may send at once before the rate applies."""
    system_rate_per_s: float = 500.0
    """Direct listener: sustained requests per second from all peers together."""
    system_burst: int = 2000

    def to_limits(self) -> Limits:
        """The ``envelopes`` parsing limits these settings stand for."""
        return Limits(
            max_packet_bytes=self.max_packet_mb * MiB,
            max_depth=self.max_depth,
            max_attachments=self.max_attachments,
            max_attachment_bytes=self.max_attachment_mb * MiB,
            max_total_attachment_bytes=self.max_total_attachment_mb * MiB,
        )


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    level: LogLevel
    format: LogFormat


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything in ``docnode.toml``, validated. ``path`` is the file it came from."""

    path: Path
    node: NodeSettings
    identity: IdentitySettings
    trust: TrustSettings
    store: StoreSettings
    queue: QueueSettings
    listen: ListenSettings
    peers: tuple[PeerSettings, ...]
    axis: AxisSettings | None
    delivery: DeliverySettings
    limits: LimitsSettings
    logging: LoggingSettings
    axis_systems: tuple[AxisSystemSettings, ...] = ()
    """The client systems and agencies an axis serves (role = "axis" only)."""


# ---------------------------------------------------------------- public functions


def _read_secret(section: str, what: str, env: str | None, file: Path | None,
                 environ: Mapping[str, str]) -> bytes | None:
    if env:
        if env not in environ:
            raise ConfigInvalid([f"[{section}] {what}_env: environment variable {env} is "
                                 "not set"])
        return environ[env].encode("utf-8")
    if file is not None:
        try:
            return file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise ConfigInvalid([f"[{section}] {what}_file: cannot read {file} "
                                 f"({exc.strerror})"]) from exc
    return None
