"""``docnode init | peers [list|add] | run | send | status | inbox | accept … | demo`` (DESIGN §9).

Thin commands over the library (STYLE §10): parsing arguments, calling one use case, printing
a table for people or one JSON document (``--json``). Errors are mapped to messages and exit
codes in ONE place, ``docnode.cli.main``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docnode import errors
from docnode.config import DEFAULT_CONFIG_NAME, load_config, resolve_config_path, write_config

if TYPE_CHECKING:
    from docnode.directory import DirectoryEntry

PASSPHRASE_FILE = "keys/passphrase"  # noqa: S105 - the file's name, not a secret


def _emit(args: argparse.Namespace, data: object, text: Callable[[], str]) -> None:
    """One JSON document on stdout with --json, else the human rendering."""
    if getattr(args, "json", False):
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        print(text())


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the listener binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _listen_value(given: str | None) -> str:
    return given if given else f"127.0.0.1:{free_port()}"


# --- init ------------------------------------------------------------------------------


def init_node(
    directory: Path,
    *,
    organ_id: str,
    name: str = "",
    ca_dir: Path | None = None,
    listen_direct: str | None = None,
    listen_api: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Write ``DIR/docnode.toml``, the node's key and certificate and its trust material.

    The certificate is issued by the dev CA in ``ca_dir`` (or a new one in ``DIR/ca``); the
    node trusts that CA's root and reads its CRLs, so nodes initialised with the same CA trust
    each other. The key is encrypted; its random passphrase sits in ``keys/passphrase``
    (mode 0600), named by ``passphrase_file`` — a development set-up, not a production one.
    """
    from keystore.ca import DevCA, KeyType, pem, write_identity

    now = now or datetime.now(UTC)
    directory = directory.resolve()
    config_path = directory / DEFAULT_CONFIG_NAME
    if config_path.exists():
        raise errors.UsageError(f"{config_path} exists already")
    directory.mkdir(parents=True, exist_ok=True)
    ca = DevCA.load(ca_dir) if ca_dir is not None else DevCA.init(directory / "ca", now=now)
    issued = ca.issue_signing(
        organ_id,
        name or organ_id,
        valid_from=now - timedelta(minutes=5),
        valid_until=now + timedelta(days=365),
        key_type=KeyType.P256,
    )
    keys = directory / "keys"
    keys.mkdir(exist_ok=True)
    passphrase = secrets.token_urlsafe(24).encode()
    pass_path = directory / PASSPHRASE_FILE
    fd = os.open(pass_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(passphrase)
    files = write_identity(issued, keys, passphrase=passphrase)
    trust = directory / "trust"
    trust.mkdir(exist_ok=True)
    (trust / "root-ca.pem").write_bytes(pem(ca.root))
    direct = _listen_value(listen_direct)
    api = _listen_value(listen_api)
    data: dict[str, Any] = {
        "node": {"organ_ids": [organ_id], "name": name or organ_id, "role": "agency",
                 "data_dir": "data"},
        "identity": {
            "key": str(files.key.relative_to(directory)),
            "cert": str(files.cert.relative_to(directory)),
            "chain": [str(files.chain.relative_to(directory))],
            "passphrase_file": PASSPHRASE_FILE,
        },
        "trust": {
            "anchors": ["trust/root-ca.pem"],
            # The CA's own CRL files (not copies): a revocation published later is seen at
            # the next start.
            "crls": [str(ca.directory / "crl.pem"), str(ca.directory / "root-crl.pem")],
            "revocation": "required",
        },
        "listen": {"direct": direct, "api": api},
    }
    write_config(config_path, data)
    return {
        "config": str(config_path),
        "organ_id": organ_id,
        "ca": str(ca.directory),
        "direct": direct,
        "api": api,
        "direct_url": f"http://{direct}",
    }


def _cmd_init(args: argparse.Namespace) -> int:
    result = init_node(
        Path(args.dir),
        organ_id=args.organ_id,
        name=args.name or "",
        ca_dir=Path(args.ca) if args.ca else None,
        listen_direct=args.listen_direct,
        listen_api=args.listen_api,
    )
    _emit(args, result, lambda: (
        f"wrote {result['config']}\n"
        f"organ id      {result['organ_id']}\n"
        f"dev CA        {result['ca']}\n"
        f"direct listen {result['direct']}  (peers POST {result['direct_url']}/edxml/v1/messages)\n"
        f"api listen    {result['api']}"
    ))
    return errors.EXIT_OK


# --- peers add ---------------------------------------------------------------------------


def add_peer(config: Path, *, organ_ids: list[str], url: str, name: str = "") -> dict[str, Any]:
    """Add a ``[[peers]]`` route to the config file (validated before it is written)."""
    try:
        data = tomllib.loads(config.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise errors.InputUnreadable(f"cannot read {config}: {exc}") from exc
    peers = [p for p in data.get("peers", []) if not set(p.get("organ_ids", [])) & set(organ_ids)]
    peer: dict[str, Any] = {"organ_ids": organ_ids, "url": url}
    if name:
        peer["name"] = name
    peers.append(peer)
    data["peers"] = peers
    write_config(config, data)
    return {"config": str(config), "organ_ids": organ_ids, "url": url}


def _cmd_peers_add(args: argparse.Namespace) -> int:
    config = resolve_config_path(args.config, os.environ)
    result = add_peer(config, organ_ids=args.organ_id, url=args.url, name=args.name or "")
    _emit(args, result, lambda: f"{', '.join(result['organ_ids'])} -> {result['url']}")
    return errors.EXIT_OK


def list_directory(config: Path) -> list[DirectoryEntry]:
    """``docnode peers``: every OrganId the node can address and its route (config peers,
    stored peers, the axis directory last synced); reads the store, node running or not."""
    import asyncio

    from docnode.directory import directory_entries
    from docnode.store import Store

    settings = load_config(config)

    async def read() -> list[DirectoryEntry]:
        store = await Store.from_settings(settings.store)
        try:
            async with store.reader() as tx:
                stored, agencies = await tx.list_peers(), await tx.list_agencies()
        finally:
            await store.close()
        return directory_entries(settings.peers, stored=stored, agencies=agencies,
                                 axis_configured=settings.axis is not None)

    return asyncio.run(read())


def _cmd_peers_list(args: argparse.Namespace) -> int:
    from docnode.cli._output import print_json, print_table

    entries = list_directory(resolve_config_path(args.config, os.environ))
    if args.json:
        print_json([e.to_json() for e in entries])
    elif not entries:
        print("no peers, no axis directory yet (docnode peers add, or an [axis] section)")
    else:
        print_table(("ORGAN ID", "NAME", "ROUTE", "KNOWN FROM"),
                    [(e.organ_id, e.name, e.route, ", ".join(e.sources)) for e in entries])
    return errors.EXIT_OK


# --- run ---------------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    from docnode.workers import run_node

    config = resolve_config_path(args.config, os.environ)
    settings = load_config(config, check_files=True)
    if args.workers < 0:
        raise errors.UsageError("--workers must be 0 or more")
    return run_node(settings, config, workers=args.workers, listen=not args.no_listen,
                    worker_of=args.worker_of)


def _config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", help="config file (default: $DOCNODE_CONFIG, ./docnode.toml)")


def _json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="set up a node folder (config, dev CA, keys)")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR")
    p.add_argument("--organ-id", required=True)
    p.add_argument("--name")
    p.add_argument("--ca", metavar="CA_DIR", help="issue from this dev CA (default: new DIR/ca)")
    p.add_argument("--listen-direct", metavar="HOST:PORT", help="default: a free loopback port")
    p.add_argument("--listen-api", metavar="HOST:PORT", help="default: a free loopback port")
    _json_option(p)
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("peers", help="who the node can address: direct peers, axis directory")
    _config_option(p)
    _json_option(p)
    p.set_defaults(func=_cmd_peers_list)
    peers = p.add_subparsers(dest="peers_command", metavar="ACTION")
    pl = peers.add_parser("list", help="list direct peers and the axis directory (default)")
    # SUPPRESS: the options may be given before or after ``list`` without one hiding the other
    pl.add_argument("-c", "--config", default=argparse.SUPPRESS,
                    help="config file (default: $DOCNODE_CONFIG, ./docnode.toml)")
    pl.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                    help="one JSON document on stdout")
    pl.set_defaults(func=_cmd_peers_list)
    pa = peers.add_parser("add", help="route OrganIds to a direct peer URL")
    _config_option(pa)
    pa.add_argument("--organ-id", required=True, action="append")
    pa.add_argument("--url", required=True)
    pa.add_argument("--name")
    _json_option(pa)
    pa.set_defaults(func=_cmd_peers_add)

    p = sub.add_parser("run", help="run the node (SIGTERM/SIGINT: graceful shutdown)")
    _config_option(p)
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="dispatch in N worker processes (this one keeps the listeners)")
    p.add_argument("--no-listen", action="store_true",
                   help="run no listener here (a worker machine of a scaled-out node)")
    p.add_argument("--worker-of", type=int, metavar="PID", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_run)

    from docnode.cli import _documents

    _documents.register(sub)

    p = sub.add_parser("demo", help="two nodes on loopback exchange a document (make demo)")
    p.add_argument("--keep", metavar="DIR", help="set the nodes up in DIR and keep it")
    p.add_argument("--via-axis", action="store_true",
                   help="an axis and two agency nodes: everything goes through the axis")
    p.set_defaults(func=_cmd_demo)



def _cmd_demo(args: argparse.Namespace) -> int:
    from docnode.demo import run_demo

    return run_demo(keep=Path(args.keep) if args.keep else None, via_axis=args.via_axis)
