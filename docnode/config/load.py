"""Loading and validating ``docnode.toml`` into :class:`~docnode.config.settings.Settings`.
One function per section; each records problems on a shared list (rule 2 of
:mod:`docnode.config`) so that every problem is reported at once.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from docnode.config._reader import ORGAN_ID, Reader
from docnode.config._toml_writer import render_toml
from docnode.config.settings import (
    AxisAgencySettings,
    AxisSettings,
    AxisSystemSettings,
    BlobBackend,
    DeliverySettings,
    IdentitySettings,
    LimitsSettings,
    ListenSettings,
    LogFormat,
    LoggingSettings,
    LogLevel,
    NodeSettings,
    PeerSettings,
    QueueBackend,
    QueueSettings,
    RevocationMode,
    Role,
    Settings,
    SignaturePolicyMode,
    SqliteSynchronous,
    StoreSettings,
    TrustSettings,
)
from docnode.errors import ConfigInvalid

DEFAULT_CONFIG_NAME = "docnode.toml"
CONFIG_ENV = "DOCNODE_CONFIG"
# An EKU OID, or the SHA-256 fingerprint of a CA certificate accepted without documentSigning.
_EKU_ENTRY = re.compile(r"^([0-2](\.(0|[1-9][0-9]*))+|[0-9a-f]{64})$")


def resolve_config_path(cli_value: str | os.PathLike[str] | None,
                        environ: Mapping[str, str]) -> Path:
    """Which config file to use: ``-c`` if given, else ``$DOCNODE_CONFIG``, else
    ``./docnode.toml``."""
    if cli_value:
        return Path(cli_value)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return Path(DEFAULT_CONFIG_NAME)


def load_config(path: str | os.PathLike[str], *, environ: Mapping[str, str] = os.environ,
                check_files: bool = False) -> Settings:
    """Read and validate a config file. Raises ``ConfigInvalid`` with every problem found
    (an unreadable file or bad TOML is one problem). With ``check_files`` the key, certificate
    and trust files named must exist."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigInvalid([f"{file}: config file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigInvalid([f"{file}: cannot read the config file ({exc})"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid([f"{file}: not valid TOML ({exc})"]) from exc
    return validate_config_data(data, path=file, environ=environ, check_files=check_files)


def validate_config_data(data: Mapping[str, Any], *, path: Path,
                         environ: Mapping[str, str] = os.environ,
                         check_files: bool = False) -> Settings:
    """Validate an already-parsed TOML document as if it were read from ``path``."""
    problems: list[str] = []
    top = Reader(data, "", path.resolve().parent, problems)
    node = _node(top.section("node"))
    peers = _peers(top)
    axis = _axis(top.section("axis")) if "axis" in data else None
    settings = Settings(
        path=path.resolve(), node=node, identity=_identity(top.section("identity")),
        trust=_trust(top.section("trust")),
        store=_store(top.section("store"), node.data_dir, environ),
        queue=_queue(top.section("queue"), environ), listen=_listen(top.section("listen")),
        peers=peers, axis=axis, delivery=_delivery(top.section("delivery")),
        limits=_limits(top.section("limits")), logging=_logging(top.section("logging")),
        axis_systems=_axis_systems(top, node.role),
    )
    top.finish()
    if check_files and not problems:
        problems.extend(_missing_files(settings))
    if problems:
        raise ConfigInvalid(problems)
    return settings


def _node(r: Reader) -> NodeSettings:
    organ_ids = r.organ_ids("organ_ids")
    node = NodeSettings(
        organ_ids=organ_ids, name=r.string("name", default=""),
        names=MappingProxyType(r.str_map("names")),
        role=r.enum("role", Role, Role.AGENCY),
        data_dir=r.path("data_dir") or r.base / "data",
    )
    r.finish()
    for oid in node.names:
        if oid not in organ_ids:
            r.problem("names", f"{oid!r} is not one of organ_ids")
    return node


def _identity(r: Reader) -> IdentitySettings:
    r.refuse_secret("passphrase", "passphrase_env or passphrase_file")
    identity = IdentitySettings(
        key=r.path("key"), cert=r.path("cert"), chain=r.paths("chain"),
        pkcs12=r.path("pkcs12"), passphrase_env=r.env_name("passphrase_env"),
        passphrase_file=r.path("passphrase_file"),
    )
    r.finish()
    if identity.pkcs12 is not None and (identity.key or identity.cert):
        r.problem("pkcs12", "give either pkcs12 or key + cert, not both")
    elif identity.pkcs12 is None and (identity.key is None or identity.cert is None):
        r.problem("key, cert", "both are required (or pkcs12)")
    if identity.passphrase_env and identity.passphrase_file:
        r.problem("passphrase_file", "give passphrase_env or passphrase_file, not both")
    return identity


def _trust(r: Reader) -> TrustSettings:
    trust = TrustSettings(
        anchors=r.paths("anchors", required=True),
        intermediates=r.paths("intermediates"), crls=r.paths("crls"),
        revocation=r.enum("revocation", RevocationMode, RevocationMode.REQUIRED),
        signature_policy=r.enum("signature_policy", SignaturePolicyMode,
                                SignaturePolicyMode.REQUIRED),
        organ_id_map=MappingProxyType(r.organ_id_map("organ_id_map")),
        eku_allowlist=r.str_list("eku_allowlist", pattern=_EKU_ENTRY,
                                 what="an OID or a lowercase SHA-256 fingerprint"),
        min_rsa_bits=r.integer("min_rsa_bits", default=2048, minimum=1024),
        ocsp=r.boolean("ocsp", default=True),
    )
    r.finish()
    if not trust.anchors and r.table.get("anchors") == []:
        # Trust is never implicit (STYLE §3): no OS store, no certifi fallback.
        r.problem("anchors", "at least one trust anchor is required")
    return trust


def _store(r: Reader, data_dir: Path, environ: Mapping[str, str]) -> StoreSettings:
    store = StoreSettings(
        url=_store_url(r, data_dir, environ),
        blobs_dir=r.path("blobs_dir") or data_dir / "blobs",
        sqlite_synchronous=r.enum("sqlite_synchronous", SqliteSynchronous,
                                  SqliteSynchronous.FULL),
        busy_timeout_ms=r.integer("busy_timeout_ms", default=10_000),
        blobs=r.enum("blobs", BlobBackend, BlobBackend.FILESYSTEM),
    )
    r.finish()
    return store


def _queue(r: Reader, environ: Mapping[str, str]) -> QueueSettings:
    backend = r.enum("backend", QueueBackend, QueueBackend.SQL)
    amqp_url = r.url_or_env("amqp_url", environ, schemes=("amqp", "amqps"))
    prefix = r.string("amqp_prefix", default="docnode")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", prefix):
        r.problem("amqp_prefix", "letters, digits, '.', '_' or '-' (1-100)")
    prefetch = r.integer("prefetch", default=0, minimum=0)
    republish_after_s = r.number("republish_after_s", default=300.0)
    r.finish()
    if backend is QueueBackend.AMQP and amqp_url is None and not r.problems_for("amqp_url"):
        r.problem("amqp_url", 'required when backend = "amqp" (or amqp_url_env)')
    return QueueSettings(backend=backend, amqp_url=amqp_url, amqp_prefix=prefix,
                         prefetch=prefetch, republish_after_s=republish_after_s)


def _listen(r: Reader) -> ListenSettings:
    listen = ListenSettings(
        direct=r.host_port("direct", default="127.0.0.1:8701"),
        api=r.host_port("api", default="127.0.0.1:8702"),
        tls_cert=r.path("tls_cert"), tls_key=r.path("tls_key"),
        tls_client_ca=r.path("tls_client_ca"),
    )
    r.finish()
    if (listen.tls_cert is None) != (listen.tls_key is None):
        r.problem("tls_cert, tls_key", "give both or neither")
    if listen.tls_client_ca is not None and listen.tls_cert is None:
        r.problem("tls_client_ca", "needs tls_cert and tls_key")
    return listen


def _peers(top: Reader) -> tuple[PeerSettings, ...]:
    peers: list[PeerSettings] = []
    seen: dict[str, int] = {}
    for i, r in enumerate(top.table_array("peers")):
        peer = PeerSettings(
            organ_ids=r.organ_ids("organ_ids"), url=r.url("url", required=True),
            name=r.string("name", default=""), tls_ca=r.path("tls_ca"),
            client_cert=r.path("client_cert"), client_key=r.path("client_key"),
        )
        r.finish()
        if (peer.client_cert is None) != (peer.client_key is None):
            r.problem("client_cert", "give client_cert and client_key together")
        for oid in peer.organ_ids:
            if oid in seen:
                r.problem("organ_ids", f"{oid} is already routed by [peers][{seen[oid]}]")
            seen.setdefault(oid, i)
        peers.append(peer)
    return tuple(peers)


def _axis(r: Reader) -> AxisSettings:
    r.refuse_secret("secret", "secret_env or secret_file")
    axis = AxisSettings(
        url=r.url("url", required=True), system_id=r.string("system_id", required=True),
        secret_env=r.env_name("secret_env"), secret_file=r.path("secret_file"),
        poll_interval_s=r.number("poll_interval_s", default=30.0),
        directory_sync_s=r.number("directory_sync_s", default=3600.0),
    )
    r.finish()
    if not axis.secret_env and not axis.secret_file:
        r.problem("secret_env", "secret_env or secret_file is required")
    return axis


def _axis_systems(top: Reader, role: Role) -> tuple[AxisSystemSettings, ...]:
    """``[[axis_systems]]`` with their ``[[axis_systems.agencies]]`` (role = "axis"): the
    registry ``docnode run`` applies at start (``docnode.axis.registry``)."""
    readers = top.table_array("axis_systems")
    if readers and role is not Role.AXIS:
        top.problem("axis_systems", 'only an axis has client systems; set [node] role = "axis"')
    systems: list[AxisSystemSettings] = []
    ids: set[str] = set()
    owner: dict[str, str] = {}
    for r in readers:
        r.refuse_secret("secret", "secret_env or secret_file")
        system_id = r.string("system_id", required=True)
        agencies = []
        for a in r.table_array("agencies"):
            agency = AxisAgencySettings(
                organ_id=a.organ_id("organ_id"), name=a.string("name"),
                mail=a.string("mail"), parent=a.string("parent"))
            a.finish()
            if agency.parent and not ORGAN_ID.match(agency.parent):
                a.problem("parent", f"{agency.parent!r} is not an OrganId")
            if agency.mail and "@" not in agency.mail:
                a.problem("mail", f"{agency.mail!r} is not a mail address")
            if agency.organ_id in owner:
                a.problem("organ_id", f"{agency.organ_id} already belongs to system "
                                      f"{owner[agency.organ_id]!r}")
            owner.setdefault(agency.organ_id, system_id)
            agencies.append(agency)
        system = AxisSystemSettings(
            system_id=system_id, name=r.string("name"), secret_env=r.env_name("secret_env"),
            secret_file=r.path("secret_file"), agencies=tuple(agencies))
        r.finish()
        if system_id and not (system_id.isascii() and system_id.isprintable()
                              and len(system_id) <= 128):
            r.problem("system_id", "printable ASCII, at most 128 characters")
        if system_id in ids:
            r.problem("system_id", f"{system_id!r} is declared twice")
        ids.add(system_id)
        if not system.secret_env and not system.secret_file:
            r.problem("secret_env", "secret_env or secret_file is required")
        if not agencies:
            r.problem("agencies", "at least one [[axis_systems.agencies]] (the OrganIds the "
                                  "system sends and receives as)")
        systems.append(system)
    return tuple(systems)


def _delivery(r: Reader) -> DeliverySettings:
    d = DeliverySettings(
        request_timeout_s=r.number("request_timeout_s", default=30.0),
        max_attempts=r.integer("max_attempts", default=20),
        backoff_initial_s=r.number("backoff_initial_s", default=1.0),
        backoff_max_s=r.number("backoff_max_s", default=300.0),
        max_age_s=r.number("max_age_s", default=604800.0),
        lease_s=r.number("lease_s", default=60.0),
        workers=r.integer("workers", default=4),
    )
    r.finish()
    if d.backoff_max_s < d.backoff_initial_s:
        r.problem("backoff_max_s", "must not be below backoff_initial_s")
    if d.lease_s <= d.request_timeout_s:
        r.problem("lease_s", "must exceed request_timeout_s, or a slow send would be "
                  "leased to a second worker")
    return d


def _limits(r: Reader) -> LimitsSettings:
    limits = LimitsSettings(
        max_packet_mb=r.integer("max_packet_mb", default=64),
        max_attachments=r.integer("max_attachments", default=100),
        max_attachment_mb=r.integer("max_attachment_mb", default=48),
        max_total_attachment_mb=r.integer("max_total_attachment_mb", default=256),
        max_depth=r.integer("max_depth", default=256),
        freshness_past_s=r.integer("freshness_past_s", default=604800),
        clock_skew_s=r.integer("clock_skew_s", default=300, minimum=0),
        peer_rate_per_s=r.number("peer_rate_per_s", default=100.0),
        peer_burst=r.integer("peer_burst", default=400),
        system_rate_per_s=r.number("system_rate_per_s", default=500.0),
        system_burst=r.integer("system_burst", default=2000),
    )
    r.finish()
    return limits


def _logging(r: Reader) -> LoggingSettings:
    logging = LoggingSettings(level=r.enum("level", LogLevel, LogLevel.INFO),
                              format=r.enum("format", LogFormat, LogFormat.JSON))
    r.finish()
    return logging


def render_config(data: Mapping[str, Any]) -> str:
    """TOML text for a config document (nested dicts; ``peers`` as an array of tables).
    Comments are not kept; the caller validates with :func:`validate_config_data`."""
    return render_toml(data)


def write_config(path: str | os.PathLike[str], data: Mapping[str, Any], *,
                 environ: Mapping[str, str] = os.environ) -> Settings:
    """Validate ``data`` as the config at ``path``, then write it atomically (temp file +
    rename). Used by ``docnode init`` and ``docnode peers add``. Returns the settings."""
    file = Path(path)
    settings = validate_config_data(data, path=file, environ=environ)
    tmp = file.with_name(f".{file.name}.tmp")
    tmp.write_text(render_toml(data), encoding="utf-8")
    os.replace(tmp, file)
    return settings


# ---------------------------------------------------------------- internals


def _store_url(r: Reader, data_dir: Path, environ: Mapping[str, str]) -> str:
    url = r.url_or_env("url", environ, schemes=("sqlite", "sqlite+aiosqlite", "postgresql",
                                                "postgresql+asyncpg"))
    if url is None:
        return f"sqlite+aiosqlite:///{data_dir / 'docnode.sqlite3'}"
    scheme, _, rest = url.partition("://")
    if scheme.startswith("sqlite"):
        # sqlite:///relative/path -> resolve against the config folder (rule 3).
        target = rest[1:] if rest.startswith("/") else rest
        if target and target != ":memory:" and not Path(target).is_absolute():
            target = str(r.base / target)
        return f"sqlite+aiosqlite:///{target}"
    return "postgresql+asyncpg://" + rest


def _missing_files(s: Settings) -> list[str]:
    named: list[tuple[str, Path | None]] = [
        ("[identity] key", s.identity.key), ("[identity] cert", s.identity.cert),
        ("[identity] pkcs12", s.identity.pkcs12),
        ("[identity] passphrase_file", s.identity.passphrase_file),
        ("[listen] tls_cert", s.listen.tls_cert), ("[listen] tls_key", s.listen.tls_key),
        ("[listen] tls_client_ca", s.listen.tls_client_ca),
    ]
    named += [("[identity] chain", p) for p in s.identity.chain]
    named += [("[trust] anchors", p) for p in s.trust.anchors]
    named += [("[trust] intermediates", p) for p in s.trust.intermediates]
    named += [("[trust] crls", p) for p in s.trust.crls]
    return [f"{where}: file not found: {p}" for where, p in named
            if p is not None and not p.is_file()]
