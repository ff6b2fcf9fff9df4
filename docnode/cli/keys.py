"""``docnode keys …``: the development CA, certificate inspection and expiry checks.

``init-ca``, ``issue``, ``issue-tls``, ``revoke`` and ``crl`` drive :mod:`keystore.ca`, a
DEVELOPMENT CA for demos and tests — never for production (every one of them says so on
stderr). ``show`` and ``expiring`` work on any certificate. Passphrases come from an
environment variable or a file, never from the command line; a generated one is written
to a 0600 file and only its path is printed. Errors are raised as library errors: the one
mapper in :mod:`docnode.cli` turns them into a message and an exit code.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from docnode import errors
from docnode.cli._output import print_json, print_pairs, print_table
from keystore.ca import DevCA, IdentityFiles, Issued, KeyType, write_identity
from keystore.errors import IdentityInvalid, Reason
from keystore.identity import read_passphrase
from keystore.trust import crl_urls, expiring, fingerprint, ocsp_urls, organ_ids_of

DEV_WARNING = "docnode: DEVELOPMENT CA - for demos and tests only, never for production"
KEY_TYPES = (KeyType.P256.value, KeyType.RSA2048.value, KeyType.RSA3072.value)
GENERATED_PASSPHRASE = "passphrase"  # noqa: S105 - the file name a generated passphrase goes to
_REASONS = [r.value for r in x509.ReasonFlags if r not in (x509.ReasonFlags.unspecified,)]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="development CA, certificate inspection, expiry")
    ks = keys.add_subparsers(dest="keys_command", metavar="KEYS_COMMAND")
    ks.required = True

    p = ks.add_parser("init-ca", help="create a DEVELOPMENT CA (root + agency issuing CA)")
    p.add_argument("dir", metavar="DIR", type=Path)
    p.add_argument("--key-type", choices=KEY_TYPES, default=KeyType.P256.value)
    p.add_argument("--name", default="Docnode Development", help="CA name in the subjects")
    p.add_argument("--crl-url", help="CRL distribution point for leaves (default: file: URL)")
    p.add_argument("--ocsp-url", help="OCSP responder URL to put in leaves (default: none)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_init_ca)

    p = ks.add_parser("issue", help="issue an agency signing certificate (dev CA)")
    _ca_options(p)
    p.add_argument("--organ-id", required=True, help="the agency's OrganId")
    p.add_argument("--name", required=True, help="the agency's name")
    p.set_defaults(func=cmd_issue)

    p = ks.add_parser("issue-tls", help="issue a TLS server/client certificate (dev CA)")
    _ca_options(p)
    p.add_argument("--name", required=True, help="subject common name")
    p.add_argument("--dns", action="append", default=[], help="DNS subjectAltName, repeat")
    p.add_argument("--ip", action="append", default=[], help="IP subjectAltName, repeat")
    p.add_argument("--usage", choices=("server", "client", "both"), default="server")
    p.set_defaults(func=cmd_issue_tls)

    p = ks.add_parser("revoke", help="revoke a certificate of the dev CA and republish its CRL")
    p.add_argument("--ca", required=True, type=Path, metavar="DIR")
    p.add_argument("cert", metavar="CERT", type=Path)
    p.add_argument("--reason", choices=_REASONS, default=x509.ReasonFlags.key_compromise.value)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_revoke)

    p = ks.add_parser("crl", help="write a fresh CRL of the dev CA")
    p.add_argument("--ca", required=True, type=Path, metavar="DIR")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE")
    p.add_argument("--root", action="store_true", help="the root's CRL (covers the issuing CA)")
    p.add_argument("--der", action="store_true", help="DER instead of PEM")
    p.set_defaults(func=cmd_crl)

    p = ks.add_parser("show", help="show a certificate (PEM/DER) or PKCS#12 file")
    p.add_argument("file", metavar="CERT|P12", type=Path)
    _passphrase_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = ks.add_parser("expiring", help="list certificates expiring within N days (exit 1 if any)")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--cert", action="append", type=Path, default=[], metavar="PEM")
    p.add_argument("--trust-anchor", action="append", type=Path, default=[], metavar="PEM")
    p.add_argument("-c", "--config", help="node config whose identity and trust to check")
    p.add_argument("--at", help="ISO 8601 moment to count from (default: now)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_expiring)


def _passphrase_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--passphrase-env", metavar="VAR", help="env variable holding the passphrase")
    g.add_argument("--passphrase-file", metavar="FILE", type=Path, help="file holding it")


def _ca_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ca", required=True, type=Path, metavar="DIR", help="dev CA folder")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="DIR")
    p.add_argument("--key-type", choices=KEY_TYPES, default=KeyType.P256.value)
    p.add_argument("--days", type=int, default=365, help="validity in days (default 365)")
    _passphrase_options(p)
    p.add_argument("--json", action="store_true")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _warn() -> None:
    print(DEV_WARNING, file=sys.stderr)


def _new_key_passphrase(args: argparse.Namespace) -> tuple[bytes, Path | None]:
    """The passphrase for a new key: from --passphrase-env/-file, else a generated one
    written to OUT/passphrase (0600). Returns it and the generated file, if any."""
    if args.passphrase_env or args.passphrase_file:
        secret = read_passphrase(
            env=args.passphrase_env, file=args.passphrase_file, environ=os.environ
        )
        return secret, None
    secret = secrets.token_urlsafe(24).encode()
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / GENERATED_PASSPHRASE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret)
    os.chmod(path, 0o600)
    return secret, path


def _write_issued(args: argparse.Namespace, issued: Issued, stem: str) -> int:
    secret, generated = _new_key_passphrase(args)
    try:
        files: IdentityFiles = write_identity(issued, args.output, passphrase=secret, stem=stem)
    except OSError as exc:
        raise errors.InputUnreadable(f"cannot write to {args.output}: {exc.strerror}") from exc
    if generated is not None:
        print(f"docnode: generated a passphrase for the new key in {generated} (mode 0600)",
              file=sys.stderr)  # fmt: skip
    cert = issued.certificate
    result = {
        "subject": cert.subject.rfc4514_string(),
        "organ_ids": list(organ_ids_of(cert)),
        "serial": format(cert.serial_number, "x"),
        "not_after": cert.not_valid_after_utc,
        "fingerprint_sha256": fingerprint(cert),
        "key": files.key,
        "cert": files.cert,
        "chain": files.chain,
        "pkcs12": files.pkcs12,
        "passphrase_file": generated or args.passphrase_file,
        "passphrase_env": args.passphrase_env,
    }
    if args.json:
        print_json(result)
    else:
        print_pairs(result.items())
    return errors.EXIT_OK


def cmd_init_ca(args: argparse.Namespace) -> int:
    _warn()
    ca = DevCA.init(
        args.dir,
        now=_now(),
        key_type=KeyType(args.key_type),
        name=args.name,
        crl_url=args.crl_url,
        ocsp_url=args.ocsp_url,
    )
    result = {
        "dir": ca.directory,
        "root": ca.directory / "root-ca.pem",
        "issuing": ca.directory / "issuing-ca.pem",
        "crl": ca.directory / "crl.pem",
        "root_fingerprint_sha256": fingerprint(ca.root),
        "crl_url": ca.crl_url,
        "ocsp_url": ca.ocsp_url,
        "note": "development CA: its key passphrase sits in DIR/passphrase",
    }
    print_json(result) if args.json else print_pairs(result.items())
    return errors.EXIT_OK


def cmd_issue(args: argparse.Namespace) -> int:
    _warn()
    ca = DevCA.load(args.ca)
    now = _now()
    issued = ca.issue_signing(
        args.organ_id,
        args.name,
        valid_from=now - timedelta(minutes=5),
        valid_until=now + timedelta(days=args.days),
        key_type=KeyType(args.key_type),
    )
    return _write_issued(args, issued, "signing")


def cmd_issue_tls(args: argparse.Namespace) -> int:
    _warn()
    ca = DevCA.load(args.ca)
    now = _now()
    issued = ca.issue_tls(
        args.name,
        valid_from=now - timedelta(minutes=5),
        valid_until=now + timedelta(days=args.days),
        dns_names=args.dns,
        ip_addresses=args.ip,
        server=args.usage in ("server", "both"),
        client=args.usage in ("client", "both"),
        key_type=KeyType(args.key_type),
    )
    return _write_issued(args, issued, "tls")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise errors.InputUnreadable(f"cannot read {path}: {exc.strerror}") from exc


def _certificates(path: Path) -> list[x509.Certificate]:
    data = _read(path)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise errors.InputUnreadable(f"{path} holds no certificate") from exc


def cmd_revoke(args: argparse.Namespace) -> int:
    _warn()
    ca = DevCA.load(args.ca)
    cert = _certificates(args.cert)[0]
    at = _now()
    ca.revoke(cert, at=at, reason=x509.ReasonFlags(args.reason))
    result = {
        "revoked": cert.subject.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "at": at,
        "reason": args.reason,
        "crl": ca.directory / "crl.pem",
    }
    print_json(result) if args.json else print_pairs(result.items())
    return errors.EXIT_OK


def cmd_crl(args: argparse.Namespace) -> int:
    _warn()
    ca = DevCA.load(args.ca)
    crl = ca.crl(at=_now(), root=args.root)
    encoding = serialization.Encoding.DER if args.der else serialization.Encoding.PEM
    try:
        args.output.write_bytes(crl.public_bytes(encoding))
    except OSError as exc:
        raise errors.InputUnreadable(f"cannot write {args.output}: {exc.strerror}") from exc
    print(f"{args.output}: {len(crl)} revoked, next update {crl.next_update_utc}")
    return errors.EXIT_OK


def _load_shown(args: argparse.Namespace) -> tuple[x509.Certificate, list[x509.Certificate]]:
    data = _read(args.file)
    if args.file.suffix.lower() not in (".p12", ".pfx"):
        certs = _certificates(args.file)
        return certs[0], certs[1:]
    secret = None
    if args.passphrase_env or args.passphrase_file:
        secret = read_passphrase(
            env=args.passphrase_env, file=args.passphrase_file, environ=os.environ
        )
    try:
        bundle = pkcs12.load_pkcs12(data, secret)
    except (ValueError, TypeError):
        reason = Reason.WRONG_PASSPHRASE if secret is not None else Reason.PASSPHRASE_MISSING
        raise IdentityInvalid(f"cannot open {args.file}", reason=reason) from None
    if bundle.cert is None:
        raise errors.InputUnreadable(f"{args.file} holds no certificate")
    return bundle.cert.certificate, [c.certificate for c in bundle.additional_certs]


def describe(cert: x509.Certificate, *, at: datetime) -> dict[str, Any]:
    """What ``keys show`` prints about one certificate."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key_desc = f"RSA-{key.key_size}"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_desc = f"EC {key.curve.name}"
    else:
        key_desc = type(key).__name__
    ext = cert.extensions
    try:
        ku = ext.get_extension_for_class(x509.KeyUsage).value
        usages = [n for n in ("digital_signature", "content_commitment", "key_cert_sign",
                              "crl_sign", "key_encipherment") if getattr(ku, n)]  # fmt: skip
    except x509.ExtensionNotFound:
        usages = []
    try:
        ekus = [e.dotted_string for e in ext.get_extension_for_class(x509.ExtendedKeyUsage).value]
    except x509.ExtensionNotFound:
        ekus = []
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "organ_ids": list(organ_ids_of(cert)),
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
        "valid_now": cert.not_valid_before_utc <= at <= cert.not_valid_after_utc,
        "fingerprint_sha256": fingerprint(cert),
        "fingerprint_sha1": cert.fingerprint(hashes.SHA1()).hex(),  # noqa: S303 - display
        "key": key_desc,
        "key_usage": usages,
        "extended_key_usage": ekus,
        "crl_urls": list(crl_urls(cert)),
        "ocsp_urls": list(ocsp_urls(cert)),
    }


def cmd_show(args: argparse.Namespace) -> int:
    cert, chain = _load_shown(args)
    at = _now()
    info = describe(cert, at=at)
    info["chain"] = [
        {
            "subject": c.subject.rfc4514_string(),
            "fingerprint_sha256": fingerprint(c),
            "not_after": c.not_valid_after_utc,
        }
        for c in chain
    ]
    if args.json:
        print_json(info)
        return errors.EXIT_OK
    print_pairs((k, v) for k, v in info.items() if k != "chain")
    for i, c in enumerate(info["chain"], 1):
        print(f"chain[{i}]  {c['subject']}  sha256={c['fingerprint_sha256']}")
    return errors.EXIT_OK


def _expiry_sources(args: argparse.Namespace) -> list[Path]:
    if args.cert or args.trust_anchor:
        return [*args.cert, *args.trust_anchor]
    from docnode.config import load_config, resolve_config_path

    path = resolve_config_path(args.config, os.environ)
    if args.config is None and not path.exists():
        raise errors.UsageError("nothing to check: give --cert/--trust-anchor or -c CONFIG")
    settings = load_config(path, environ=os.environ)
    ident, trust = settings.identity, settings.trust
    files = [p for p in (ident.cert,) if p is not None] + list(ident.chain)
    return files + list(trust.anchors) + list(trust.intermediates)


def cmd_expiring(args: argparse.Namespace) -> int:
    if args.days < 0:
        raise errors.UsageError("--days must not be negative")
    at = _now()
    if args.at is not None:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError as exc:
            raise errors.UsageError(f"--at: not an ISO 8601 date-time: {args.at!r}") from exc
        at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    certs: list[x509.Certificate] = []
    for path in _expiry_sources(args):
        files = sorted(path.glob("*.pem")) if path.is_dir() else [path]
        for file in files:
            certs += _certificates(file)
    found = expiring(certs, within=timedelta(days=args.days), at=at)
    rows = [
        {
            "subject": e.subject,
            "not_after": e.not_after,
            "days_left": round(e.days_left, 1),
            "expired": e.days_left < 0,
            "fingerprint_sha256": e.fingerprint,
        }
        for e in found
    ]
    if args.json:
        print_json({"at": at, "days": args.days, "checked": len(certs), "expiring": rows})
    elif rows:
        print_table(
            ("subject", "not after", "days left"),
            [(r["subject"], r["not_after"], r["days_left"]) for r in rows],
        )
    else:
        print(f"no certificate expires within {args.days} days ({len(certs)} checked)")
    return errors.EXIT_INVALID if rows else errors.EXIT_OK
