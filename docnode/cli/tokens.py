"""``docnode tokens create | list | revoke``: bearer tokens of the clerk API.

``create`` prints the token ONCE (its last line, or ``token`` in ``--json``); the store keeps
only its SHA-256 (``docnode.api.auth``). Nothing else ever shows a token again.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from docnode import errors
from docnode.cli._output import print_json, print_pairs, print_table
from docnode.config import load_config, resolve_config_path


async def _with_store(args: argparse.Namespace, work: Any) -> Any:
    from docnode.store import Store

    settings = load_config(resolve_config_path(args.config, os.environ))
    store = await Store.from_settings(settings.store)
    try:
        return await work(store, settings)
    finally:
        await store.close()


def _cmd_create(args: argparse.Namespace) -> int:
    from docnode.api.auth import create_token

    async def work(store: Any, settings: Any) -> Any:
        return await create_token(store, name=args.name, organ_ids=args.organ_id,
                                  served=settings.node.organ_ids, now=datetime.now(UTC))

    info, token = asyncio.run(_with_store(args, work))
    if args.json:
        print_json({**asdict(info), "token": token})
    else:
        print_pairs([("id", info.id), ("name", info.name), ("organ ids", info.organ_ids)])
        print("token (shown once, keep it safe):")
        print(token)
    return errors.EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    from docnode.api.auth import list_tokens

    async def work(store: Any, _settings: Any) -> Any:
        return await list_tokens(store)

    infos = asyncio.run(_with_store(args, work))
    if args.json:
        print_json([asdict(i) for i in infos])
    else:
        print_table(("id", "name", "organ ids", "created", "revoked"),
                    [(i.id, i.name, i.organ_ids, i.created_at, i.revoked_at or "")
                     for i in infos])
    return errors.EXIT_OK


def _cmd_revoke(args: argparse.Namespace) -> int:
    from docnode.api.auth import revoke_token

    async def work(store: Any, _settings: Any) -> Any:
        return await revoke_token(store, args.id, now=datetime.now(UTC))

    info = asyncio.run(_with_store(args, work))
    if args.json:
        print_json(asdict(info))
    else:
        print(f"revoked {info.id} ({info.name})")
    return errors.EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tokens", help="bearer tokens of the clerk API")
    tokens = p.add_subparsers(dest="tokens_command", metavar="ACTION")
    tokens.required = True

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("-c", "--config",
                       help="config file (default: $DOCNODE_CONFIG, ./docnode.toml)")
        q.add_argument("--json", action="store_true", help="one JSON document on stdout")

    c = tokens.add_parser("create", help="issue a token (printed once)")
    common(c)
    c.add_argument("--name", required=True, help="who holds it (shown in the event log)")
    c.add_argument("--organ-id", required=True, action="append",
                   help="an organisation the token may act for (repeatable)")
    c.set_defaults(func=_cmd_create)

    ls = tokens.add_parser("list", help="list tokens (never the tokens themselves)")
    common(ls)
    ls.set_defaults(func=_cmd_list)

    r = tokens.add_parser("revoke", help="revoke a token by id")
    common(r)
    r.add_argument("id")
    r.set_defaults(func=_cmd_revoke)
