"""``docnode axis register-system | set-agency | agencies | serve`` — an axis in two
commands, no config.

    docnode axis register-system --data DIR --system-id ID --secret-env VAR --organ-id ID…
    docnode axis serve --data DIR --listen HOST:PORT [--signature-policy required|legacy-allowed]
                       [--trust-anchor PEM]… [--crl FILE]… [--revocation RULE]
    docnode axis set-agency --data DIR --organ-id ID [--name N] [--mail M] [--parent ID]
    docnode axis agencies --data DIR [--json]

(``-c CONFIG`` instead of ``--data DIR``: a ``role = "axis"`` node config, whose
``[[axis_systems]]`` registry ``docnode run`` applies at start; ``docnode.axis.registry``.)

The secret is read from the named environment variable (or ``--secret-file``), never from the
command line (it would show in ``ps``), and is stored sealed (``docnode.axis.secrets``).
``serve`` prints ``listening HOST:PORT`` once the socket is bound (port 0 = any free port).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from docnode import errors
from docnode.axis.runtime import AxisLocation
from docnode.config import HostPort
from docnode.verification import SIGNATURE_LEGACY_ALLOWED, SIGNATURE_REQUIRED, build_context

if TYPE_CHECKING:
    from docnode.store import Store

T = TypeVar("T")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    axis = sub.add_parser("axis", help="run docnode as a VXP interconnection axis")
    cmds = axis.add_subparsers(dest="axis_command", metavar="ACTION")
    cmds.required = True

    reg = cmds.add_parser("register-system", help="register (or update) a client system")
    _where(reg)
    reg.add_argument("--system-id", required=True)
    src = reg.add_mutually_exclusive_group(required=True)
    src.add_argument("--secret-env", metavar="VAR", help="environment variable holding the secret")
    src.add_argument("--secret-file", type=Path, help="file holding the secret")
    reg.add_argument("--organ-id", action="append", required=True, dest="organ_ids",
                     metavar="ID", help="an OrganId the system sends and receives as (repeat)")
    reg.add_argument("--name", default="", help="display name of the system")
    reg.add_argument("--json", action="store_true")
    reg.set_defaults(func=_register)

    desc = cmds.add_parser("set-agency",
                           help="describe a registered agency (what getAgenciesList serves)")
    _where(desc)
    desc.add_argument("--organ-id", required=True, metavar="ID")
    desc.add_argument("--name", help="the agency's name")
    desc.add_argument("--mail", help="the agency's mail address")
    desc.add_argument("--parent", metavar="ID", help="the parent agency's OrganId")
    desc.add_argument("--json", action="store_true")
    desc.set_defaults(func=_set_agency)

    lst = cmds.add_parser("agencies", help="list the registry: agencies and their systems")
    _where(lst)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=_agencies)

    serve = cmds.add_parser("serve", help="serve the VXP protocol")
    serve.add_argument("--data", type=Path, required=True)
    serve.add_argument("--listen", required=True, metavar="HOST:PORT")
    serve.add_argument("--signature-policy", default=SIGNATURE_REQUIRED,
                       choices=(SIGNATURE_REQUIRED, SIGNATURE_LEGACY_ALLOWED),
                       help="legacy-allowed (DANGEROUS) accepts unsigned packets, marked")
    serve.add_argument("--trust-anchor", action="append", type=Path, default=[],
                       dest="anchors", metavar="PEM",
                       help="a trust anchor (repeat; a folder of PEMs works too); default: "
                            "the certificates in DATA/trust/, else none (signed packets are "
                            "then all refused)")
    serve.add_argument("--intermediate", action="append", type=Path, default=[],
                       dest="intermediates", metavar="PEM")
    serve.add_argument("--crl", action="append", type=Path, default=[], dest="crls",
                       metavar="FILE")
    serve.add_argument("--revocation", default="required",
                       choices=("required", "required-all", "best-effort", "off"))
    serve.add_argument("--organ-id", default=None, dest="axis_organ_id",
                       help="the axis's own OrganId (TraceHeaders of legacy packets)")
    serve.add_argument("--timestamp-window-h", type=float, default=24.0, metavar="HOURS",
                       help="a system's NEW request timestamp must be this close to the axis "
                            "clock, at any time zone (24; 0 = never checked); a timestamp "
                            "already used is accepted at any age (the SDK reuses one)")
    serve.add_argument("--max-fail-acks", type=int, default=5)
    serve.add_argument("--fail-retry-s", type=float, default=0.0)
    serve.add_argument("--max-packet-mb", type=int, default=64)
    serve.set_defaults(func=_serve)


def _where(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--data", type=Path, help="the axis data folder (docnode axis serve)")
    where.add_argument("-c", "--config", type=Path,
                       help='a node config with role = "axis" (its [store] and data_dir)')


async def _with_store(location: AxisLocation,
                      use: Callable[[Store], Awaitable[T]]) -> T:
    from docnode.store import Store

    store = await Store.open(location.store_url, location.blobs_dir)
    try:
        return await use(store)
    finally:
        await store.close()


def _set_agency(args: argparse.Namespace) -> int:
    from docnode.axis.registry import describe_agency
    from envelopes.organ import OrganId

    organ_id = str(OrganId.parse(args.organ_id))
    if args.parent:
        args.parent = str(OrganId.parse(args.parent))
    if args.mail and "@" not in args.mail:
        raise errors.UsageError(f"--mail: {args.mail!r} is not a mail address")
    if args.name is None and args.mail is None and args.parent is None:
        raise errors.UsageError("give at least one of --name, --mail, --parent")
    row = asyncio.run(_with_store(_location(args), lambda store: describe_agency(
        store, organ_id, name=args.name, mail=args.mail, parent=args.parent)))
    if args.json:
        print(json.dumps(row.to_json(), ensure_ascii=False))
    else:
        print(f"{row.organ_id} ({row.system_id}): {row.name or '-'} {row.mail}".rstrip())
    return errors.EXIT_OK


def _agencies(args: argparse.Namespace) -> int:
    from docnode.axis.registry import list_registry
    from docnode.cli._output import print_json, print_table

    rows = asyncio.run(_with_store(_location(args), list_registry))
    if args.json:
        print_json([r.to_json() for r in rows])
    elif not rows:
        print("no agency registered yet (docnode axis register-system, or [[axis_systems]])")
    else:
        print_table(("ORGAN ID", "SYSTEM", "NAME", "MAIL", "PARENT", "FROM"),
                    [(r.organ_id, r.system_id, r.name, r.mail, r.parent, r.source)
                     for r in rows])
    return errors.EXIT_OK


def _read_secret(args: argparse.Namespace) -> bytes:
    if args.secret_env:
        value = os.environ.get(args.secret_env)
        if not value:
            raise errors.UsageError(f"environment variable {args.secret_env} is not set")
        return value.encode("utf-8")
    try:
        secret = Path(args.secret_file).read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise errors.InputUnreadable(f"cannot read {args.secret_file}: {exc.strerror}") from exc
    if not secret:
        raise errors.UsageError(f"{args.secret_file} is empty")
    return secret


def _location(args: argparse.Namespace) -> AxisLocation:
    from docnode.axis.runtime import AxisLocation, location_of
    from docnode.config import load_config

    if args.data is not None:
        return AxisLocation.in_dir(args.data)
    return location_of(load_config(args.config))


def _register(args: argparse.Namespace) -> int:
    from docnode.axis.hub import register_system
    from docnode.axis.secrets import SecretSealer, load_master_key
    from docnode.store import Store
    from envelopes.organ import OrganId

    secret = _read_secret(args)
    organ_ids = [str(OrganId.parse(o)) for o in args.organ_ids]
    location = _location(args)

    async def run() -> None:
        location.key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        sealer = SecretSealer(load_master_key(location.key_dir, os.environ, create=True))
        store = await Store.open(location.store_url, location.blobs_dir)
        try:
            await register_system(store, sealer, args.system_id, secret, organ_ids,
                                  name=args.name, now=datetime.now(UTC))
        finally:
            await store.close()

    asyncio.run(run())
    result = {"system_id": args.system_id, "organ_ids": organ_ids,
              "data": str(location.key_dir)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"registered {args.system_id}: {', '.join(organ_ids)}")
    return errors.EXIT_OK


def _default_anchors(data: Path) -> list[Path]:
    """Without ``--trust-anchor``: the certificates (and, without ``--crl``, the CRLs) in
    ``DATA/trust/``, else none at all.
    Trust stays explicit (nothing is trusted by default): with no anchor every signed packet
    is refused as ``untrusted_root``, which the operator is told at start."""
    folder = data / "trust"
    suffixes = {".pem", ".crt", ".cer", ".der"}
    if folder.is_dir() and any(p.suffix.lower() in suffixes for p in folder.iterdir()):
        return [folder]
    print(f"docnode axis: no trust anchor (--trust-anchor PEM, or certificates in {folder}/): "
          "every signed packet will be refused (certificate_untrusted, untrusted_root); "
          "unsigned ones are accepted "
          "only with --signature-policy legacy-allowed", file=sys.stderr)
    return []


def _serve(args: argparse.Namespace) -> int:
    from docnode.axis.hub import AxisPolicy
    from docnode.axis.runtime import AxisLocation, open_axis, run_until_signal
    from docnode.logging import configure_logging

    try:
        listen = HostPort.parse(args.listen)
    except ValueError as exc:
        raise errors.UsageError(f"--listen: {exc}") from exc
    if not args.anchors:
        args.anchors = _default_anchors(args.data)
        if args.anchors and not args.crls:
            args.crls = args.anchors  # the folder's CRLs (a folder may mix both)
    context = build_context(anchors=args.anchors, intermediates=args.intermediates,
                            crls=args.crls, revocation=args.revocation,
                            signature_policy=args.signature_policy,
                            allow_no_anchor=not args.anchors)
    if args.timestamp_window_h < 0:
        raise errors.UsageError("--timestamp-window-h must be 0 (off) or more")
    window = (timedelta(hours=args.timestamp_window_h) if args.timestamp_window_h else None)
    policy = AxisPolicy(max_fail_acks=args.max_fail_acks, fail_retry_s=args.fail_retry_s,
                        organ_id=args.axis_organ_id, timestamp_window=window)
    configure_logging(fmt="json", level="INFO")

    def started(address: tuple[str, int]) -> None:
        print(f"listening {address[0]}:{address[1]}", flush=True)

    async def run() -> None:
        async with open_axis(AxisLocation.in_dir(args.data), verification=context,
                             environ=os.environ, policy=policy) as parts:
            if not parts.hub.has_systems:
                print("docnode axis: no client system registered yet", file=sys.stderr)
            await run_until_signal(parts, listen, max_packet_bytes=args.max_packet_mb << 20,
                                   on_started=started)

    asyncio.run(run())
    return errors.EXIT_OK
