"""``docnode doctor``: what is wrong with this node's set-up, and how to fix it.

Rules:
1. Each check is a small async function returning :class:`Finding` values (X-Road's
   HealthCheckResult): a name, a :class:`Severity`, what was found and, when something is
   wrong, how to fix it. A check that cannot run because an earlier one failed says so
   (``skipped``) instead of failing for the same reason twice.
2. Nothing here changes the node: the store is opened without migrating, a missing SQLite file
   is reported, not created; peers are only connected to (TCP), never sent anything.
3. Findings never carry secrets: passphrases and tokens are read to test them, never shown.
4. The verdict is ``ok`` unless a finding is an ``error``; warnings (a certificate expiring
   within 30 days, dead-lettered work) are shown but do not fail the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from docnode import errors
from docnode.config import Settings, load_config
from docnode.store import Store
from keystore.errors import KeystoreError

EXPIRY_WARNING = timedelta(days=30)
CONNECT_TIMEOUT_S = 3.0


class Severity(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    """Which check: config, identity, certificate_expiry, trust, crl, store, queue, peer…"""
    severity: Severity
    detail: str
    """What was found (never a secret)."""
    fix: str = ""
    """How to fix it, when something is wrong."""


@dataclass(frozen=True, slots=True)
class DoctorReport:
    config: str
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(f.severity is not Severity.ERROR for f in self.findings)

    def to_json(self) -> dict[str, object]:
        return {"config": self.config, "ok": self.ok,
                "findings": [{"check": f.check, "severity": f.severity.value,
                              "detail": f.detail, "fix": f.fix} for f in self.findings]}


def _err(check: str, detail: str, fix: str) -> Finding:
    return Finding(check, Severity.ERROR, detail, fix)


def _ok(check: str, detail: str) -> Finding:
    return Finding(check, Severity.OK, detail)


# --- the checks ------------------------------------------------------------------------


def check_identity(settings: Settings, environ: Mapping[str, str], now: datetime
                   ) -> tuple[list[Finding], object | None]:
    """Identity loads (passphrase, key matches certificate) and its expiry."""
    from keystore.identity import load_identity

    ident = settings.identity
    try:
        passphrase = ident.read_passphrase(environ)
        identity = load_identity(key=ident.key, cert=ident.cert, chain=ident.chain,
                                 pkcs12=ident.pkcs12, passphrase=passphrase)
    except errors.ConfigInvalid as exc:
        return [_err("identity", "; ".join(exc.problems),
                     "set the environment variable or file named by [identity] "
                     "passphrase_env / passphrase_file")], None
    except KeystoreError as exc:
        reason = exc.reason.value if exc.reason is not None else exc.code
        fixes = {
            "wrong_passphrase": "the passphrase does not open the key: check "
                                "passphrase_env / passphrase_file",
            "key_mismatch": "[identity] key and cert do not belong together: point both at "
                            "the same identity (docnode keys show CERT)",
            "unreadable": "check the paths in [identity] and the files' permissions",
        }
        return [_err("identity", f"{exc.code} ({reason})",
                     fixes.get(reason, "check the files named in [identity]"))], None
    cert = identity.certificate
    not_after = cert.not_valid_after_utc
    findings = [_ok("identity", f"{cert.subject.rfc4514_string()} (key matches certificate)")]
    days = (not_after - now) / timedelta(days=1)
    if not_after <= now or cert.not_valid_before_utc > now:
        findings.append(_err("certificate_expiry",
                             f"signing certificate valid {cert.not_valid_before_utc:%Y-%m-%d} "
                             f"to {not_after:%Y-%m-%d}: not valid now",
                             "issue a new signing certificate (docnode keys issue) and update "
                             "[identity]"))
    elif days < EXPIRY_WARNING.days:
        findings.append(Finding("certificate_expiry", Severity.WARNING,
                                f"signing certificate expires in {days:.0f} days "
                                f"({not_after:%Y-%m-%d})",
                                "renew the signing certificate before it expires"))
    else:
        findings.append(_ok("certificate_expiry", f"valid for {days:.0f} more days"))
    return findings, identity


def check_secrets(settings: Settings, environ: Mapping[str, str]) -> list[Finding]:
    """The VXP secrets the node will need can be read (never shown): the ``[axis]`` one of an
    agency, each ``[[axis_systems]]`` one of an axis."""
    findings: list[Finding] = []
    wanted: list[tuple[str, Callable[[Mapping[str, str]], bytes]]] = []
    if settings.axis is not None:
        wanted.append(("[axis]", settings.axis.read_secret))
    wanted += [(f"[[axis_systems]] {s.system_id}", s.read_secret)
               for s in settings.axis_systems]
    for where, read in wanted:
        try:
            read(environ)
        except errors.ConfigInvalid as exc:
            findings.append(_err("axis_secret", f"{where}: {'; '.join(exc.problems)}",
                                 "set the environment variable or file named by secret_env / "
                                 "secret_file"))
        else:
            findings.append(_ok("axis_secret", f"{where}: readable"))
    return findings


def check_trust(settings: Settings, now: datetime) -> list[Finding]:
    """Anchors and CRLs load; anchors are in date; CRLs are fresh when revocation needs them."""
    from keystore.trust import TrustStore

    trust = settings.trust
    try:
        store = TrustStore.from_files(trust.anchors, trust.intermediates, trust.crls)
    except KeystoreError as exc:
        return [_err("trust", f"{exc.code}: {exc.message}",
                     "check [trust] anchors / intermediates / crls (PEM or DER files)")]
    findings = [_ok("trust", f"{len(store.anchors)} anchor(s), {len(store.intermediates)} "
                             f"intermediate(s), {len(store.crls)} CRL(s)")]
    for anchor in store.anchors:
        if anchor.not_valid_after_utc <= now:
            findings.append(_err("trust", f"anchor {anchor.subject.rfc4514_string()} expired "
                                          f"{anchor.not_valid_after_utc:%Y-%m-%d}",
                                 "replace the expired trust anchor in [trust] anchors"))
    needs_crl = trust.revocation.value in ("required", "required-all")
    for crl in store.crls:
        next_update = crl.next_update_utc
        if next_update is not None and next_update < now:
            issuer = crl.issuer.rfc4514_string()
            severity = Severity.ERROR if needs_crl else Severity.WARNING
            findings.append(Finding(
                "crl", severity, f"CRL of {issuer} is stale (next update was "
                                 f"{next_update:%Y-%m-%d %H:%M} UTC)",
                "fetch a fresh CRL from the CA into the file named in [trust] crls; with "
                "revocation = required, packets are refused (revocation_unknown) until then"))
    if needs_crl and not store.crls and not trust.ocsp:
        findings.append(_err("crl", "revocation is required but no CRL is configured and OCSP "
                                    "is off", "add the CAs' CRLs to [trust] crls or enable "
                                              "[trust] ocsp"))
    return findings


async def check_store(settings: Settings) -> tuple[list[Finding], Store | None]:
    """Store reachable and migrated to the newest schema (opened without migrating)."""
    from docnode.store import current_revision, head_revision
    from docnode.store.engine import sqlite_path

    db_file = sqlite_path(settings.store.url)
    if db_file is not None and not db_file.exists():
        return [_err("store", f"the database {db_file} does not exist",
                     "start the node once (docnode run) or run docnode send: the store is "
                     "created and migrated on first use")], None
    try:
        store = await Store.from_settings(settings.store, migrate=False)
    except errors.DocnodeError as exc:
        return [_err("store", f"{exc.code}: cannot open the store",
                     "check [store] url and that the database is running")], None
    try:
        current = await current_revision(store.engine)
    except Exception as exc:  # any driver error means: not reachable
        await store.close()
        return [_err("store", f"store_unavailable: {type(exc).__name__}",
                     "check [store] url, the database server and its credentials")], None
    head = head_revision()
    if current != head:
        return [_err("store", f"schema at revision {current or 'none'}, the code needs {head}",
                     "start the node once (docnode run) to migrate the store")], store
    return [_ok("store", f"reachable, schema at {head}")], store


async def check_queue(settings: Settings, store: Store, now: datetime) -> list[Finding]:
    from docnode.queue import SqlQueue

    stats = await SqlQueue(store).stats(now=now)
    detail = (f"ready={stats.ready} due={stats.due} leased={stats.leased} dead={stats.dead} "
              f"oldest={stats.oldest_age_s:.0f}s")
    if stats.dead:
        return [Finding("queue", Severity.WARNING, detail,
                        "dead-lettered deliveries need an operator: see docnode status "
                        "and resend or give up on them")]
    if stats.oldest_age_s > settings.delivery.max_age_s:
        return [Finding("queue", Severity.WARNING, detail,
                        "work older than [delivery] max_age_s is waiting: is the node running "
                        "and are its peers reachable?")]
    return [_ok("queue", detail)]


async def _reachable(url: str) -> str | None:
    """None if a TCP connection to the URL's host and port opens, else why not."""
    parts = urlsplit(url)
    if not parts.hostname:
        return "not a URL"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port),
                                           CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        return type(exc).__name__ if not str(exc) else str(exc)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


async def check_peers(settings: Settings) -> list[Finding]:
    targets: list[tuple[str, str]] = [
        (f"peer {','.join(p.organ_ids)}", p.url) for p in settings.peers
    ]
    if settings.axis is not None:
        targets.append(("axis", settings.axis.url))
    results = await asyncio.gather(*(_reachable(url) for _, url in targets))
    findings: list[Finding] = []
    for (name, url), problem in zip(targets, results, strict=True):
        if problem is None:
            findings.append(_ok("peer", f"{name} reachable at {url}"))
        else:
            findings.append(_err("peer", f"{name} at {url} is not reachable ({problem})",
                                 "check that the peer is running, the URL in the config, and "
                                 "firewalls between the two machines"))
    if not targets:
        findings.append(_ok("peer", "no peers or axis configured"))
    return findings


async def diagnose(path: Path, *, environ: Mapping[str, str] = os.environ,
                   now: datetime | None = None, check_network: bool = True) -> DoctorReport:
    """Run every check on the config at ``path`` (rule 1: later checks skip when their
    input failed)."""
    now = now or datetime.now(UTC)
    try:
        settings = load_config(path, environ=environ, check_files=True)
    except errors.ConfigInvalid as exc:
        return DoctorReport(str(path), tuple(
            _err("config", problem, "edit the config file (config.example.toml documents "
                                    "every key)") for problem in exc.problems))
    findings: list[Finding] = [_ok("config", f"{path} is valid")]
    identity_findings, _identity = check_identity(settings, environ, now)
    findings += identity_findings
    findings += check_secrets(settings, environ)
    findings += check_trust(settings, now)
    store_findings, store = await check_store(settings)
    findings += store_findings
    if store is not None:
        try:
            if all(f.severity is not Severity.ERROR for f in store_findings):
                findings += await check_queue(settings, store, now)
            else:
                findings.append(Finding("queue", Severity.SKIPPED, "the store is not usable"))
        finally:
            await store.close()
    else:
        findings.append(Finding("queue", Severity.SKIPPED, "the store is not usable"))
    if check_network:
        findings += await check_peers(settings)
    return DoctorReport(str(path), tuple(findings))


def render(report: DoctorReport) -> str:
    marks = {Severity.OK: "ok  ", Severity.WARNING: "WARN", Severity.ERROR: "FAIL",
             Severity.SKIPPED: "skip"}
    lines = [f"docnode doctor: {report.config}"]
    for f in report.findings:
        lines.append(f"  {marks[f.severity]} {f.check:<18} {f.detail}")
        if f.fix and f.severity in (Severity.ERROR, Severity.WARNING):
            lines.append(f"       {'':<18} fix: {f.fix}")
    lines.append("all good" if report.ok else "problems found")
    return "\n".join(lines)


def problems(report: DoctorReport) -> Sequence[Finding]:
    return [f for f in report.findings if f.severity is Severity.ERROR]
