"""``docnode verify``: the auditor's offline tool — a thin main over docnode.verification
and docnode.audit (X-Road's asic-verifier over its library; unlike it, we exit 1 on any
invalid packet).

Exit codes: 0 every packet PASSED; 1 any FAILED or INDETERMINATE (the report says why);
2 usage or I/O errors (a missing packet file, unreadable trust material, a bad config).
Trust material comes from the options; where none is given, from the node's config file
(``-c``, ``$DOCNODE_CONFIG`` or ``./docnode.toml``) when one exists.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from docnode import errors
from docnode.audit import Status, VerificationReport, error_report, report_from
from docnode.cli._output import print_json, print_pairs


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify",
        help="verify packets' signatures, certificates and sender binding (auditor's tool)",
        description="Verify each PACKET offline and print a report: signer, certificate "
        "validity, chain to which anchor, revocation, algorithms, sender binding, "
        "attachments. Exit 0 when all are valid, 1 when any is not, 2 on usage/I-O errors.",
    )
    p.add_argument("packets", metavar="PACKET", type=Path, nargs="+")
    add_trust_options(p)
    p.add_argument(
        "--at",
        metavar="ISO8601",
        help="check as of this moment (certificate validity, CRL freshness); default now",
    )
    p.add_argument(
        "--lenient",
        action="store_true",
        help="accept the VNPT SDK's warts (junk before <?xml, undeclared xlink:)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_verify)


def add_trust_options(p: argparse.ArgumentParser) -> None:
    """The trust option group shared by ``verify`` and the node commands."""
    g = p.add_argument_group("trust")
    g.add_argument("-c", "--config", help="node config to take trust defaults from")
    g.add_argument("--trust-anchor", action="append", type=Path, default=[], metavar="PEM",
                   help="trusted root certificate(s) (PEM file or folder), repeat")
    g.add_argument("--intermediate", action="append", type=Path, default=[], metavar="PEM",
                   help="intermediate CA certificate(s), repeat")
    g.add_argument("--crl", action="append", type=Path, default=[], metavar="FILE",
                   help="certificate revocation list(s) (PEM or DER), repeat")
    g.add_argument(
        "--revocation",
        choices=("required", "required-all", "best-effort", "off"),
        help="revocation rule (default: the config's, else best-effort: every CRL given is "
        "applied, and the report says when none covered the signer)",
    )


def parse_at(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise errors.UsageError(f"--at: not an ISO 8601 date-time: {text!r}") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def context_from_args(args: argparse.Namespace, *, lenient: bool = False):  # type: ignore[no-untyped-def]
    from docnode.config import load_config, resolve_config_path
    from docnode.verification import build_context, context_from_settings

    if not args.trust_anchor:
        path = resolve_config_path(args.config, os.environ)
        if args.config is not None or path.exists():
            settings = load_config(path, environ=os.environ)
            return context_from_settings(settings, lenient=lenient, revocation=args.revocation)
        raise errors.UsageError(
            "no trust anchors: give --trust-anchor PEM (or -c CONFIG with a [trust] section)"
        )
    return build_context(
        anchors=tuple(args.trust_anchor),
        intermediates=tuple(args.intermediate),
        crls=tuple(args.crl),
        revocation=args.revocation or "best-effort",
        lenient=lenient,
    )


def cmd_verify(args: argparse.Namespace) -> int:
    from docnode.verification import check_packet

    at = parse_at(args.at)
    context = context_from_args(args, lenient=args.lenient)
    reports: list[VerificationReport] = []
    io_failed = False
    show_progress = not args.json and len(args.packets) > 1 and sys.stderr.isatty()
    for i, path in enumerate(args.packets, 1):
        if show_progress:
            _progress(i, len(args.packets), path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            io_failed = True
            err = errors.InputUnreadable(f"cannot read {path}: {exc.strerror or exc}")
            reports.append(error_report(str(path), err, at=at))
            continue
        outcome = check_packet(data, context=context, at=at)
        reports.append(report_from(outcome, source=str(path), at=at))
    if show_progress:
        sys.stderr.write("\r\033[K")
    passed = sum(r.status is Status.PASSED for r in reports)
    failed = sum(r.status is Status.FAILED for r in reports)
    indeterminate = sum(r.status is Status.INDETERMINATE for r in reports)
    if args.json:
        print_json({
            "checked_at": at.isoformat(),
            "summary": {"passed": passed, "failed": failed, "indeterminate": indeterminate},
            "reports": [r.to_json() for r in reports],
        })
    else:
        for report in reports:
            _print_report(report)
        print(f"{len(reports)} packet(s): {passed} valid, {failed} invalid, "
              f"{indeterminate} indeterminate")
    if io_failed:
        return errors.EXIT_USAGE
    return errors.EXIT_OK if passed == len(reports) else errors.EXIT_INVALID


def _progress(i: int, n: int, path: Path) -> None:
    width = 30
    done = int(width * (i - 1) / n)
    sys.stderr.write(f"\r[{'#' * done}{'.' * (width - done)}] {i}/{n} {path.name[:40]}")
    sys.stderr.flush()


def _print_report(r: VerificationReport) -> None:
    verdict = {"PASSED": "VALID", "FAILED": "INVALID", "INDETERMINATE": "INDETERMINATE"}
    head = f"== {r.source}: {verdict[r.status.value]}"
    if r.code:
        head += f" [{r.code}{'/' + r.reason if r.reason else ''}]"
    print(head)
    signer = r.signer
    print_pairs([
        ("reason", r.message),
        ("kind", r.kind),
        ("document id", r.document_id),
        ("from (packet)", r.from_organ_id),
        ("signer", signer.subject if signer else None),
        ("signer OrganId", ", ".join(r.certificate_organ_ids) or
         (signer.organization_identifier if signer else None)),
        ("sender bound", r.sender_bound),
        ("certificate", f"serial {signer.serial}, valid {signer.not_before} .. "
         f"{signer.not_after}" if signer else None),
        ("fingerprint", f"sha256:{signer.sha256}" if signer else None),
        ("chained to", r.anchor.subject if r.anchor else None),
        ("path", " -> ".join(r.path) if r.path else None),
        ("revocation", r.revocation),
        ("signature alg", r.signature_algorithm),
        ("digest alg", r.digest_algorithm),
        ("unverified", True if r.unverified else None),
        ("packet sha256", r.packet_sha256),
        ("size", f"{r.size} bytes" if r.size else None),
        ("checked as of", r.checked_at),
        ("steps passed", ", ".join(r.steps_passed)),
    ])
    for a in r.attachments:
        print(f"  attachment  {a.name} ({a.content_type}, {a.size} bytes)")
    for w in r.warnings:
        print(f"  warning     {w}")
