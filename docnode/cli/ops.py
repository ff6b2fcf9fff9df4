"""``docnode audit-log verify | doctor | archive`` — the operator's commands (issue 9).

Thin commands over the library (STYLE §10): ``docnode.store`` (the event hash chain),
``docnode.doctor`` and ``docnode.retention``. Exit codes (DESIGN §9): 0 all good, 1 a
negative result (a broken chain, a problem found), 2 usage, configuration or I/O errors —
mapped in ONE place, ``docnode.cli.main``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from docnode import errors
from docnode.cli._output import print_json


def _config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", help="config file (default: $DOCNODE_CONFIG, ./docnode.toml)")


def _json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _settings(args: argparse.Namespace) -> Any:
    from docnode.config import load_config, resolve_config_path

    return load_config(resolve_config_path(args.config, os.environ))


# --- audit-log verify ---------------------------------------------------------------------


async def verify_audit_log(settings: Any) -> dict[str, Any]:
    """Walk the event log's hash chain; the first bad row, if any."""
    from docnode.store import Store
    from docnode.store.engine import sqlite_path

    db_file = sqlite_path(settings.store.url)
    if db_file is not None and not db_file.exists():
        raise errors.StoreUnavailable(f"the database {db_file} does not exist")
    store = await Store.from_settings(settings.store, migrate=False)
    try:
        report = await store.verify_event_chain()
    finally:
        await store.close()
    return {
        "ok": report.ok,
        "checked": report.checked,
        "last_good_id": report.last_id,
        "problem": None if report.problem is None else report.problem.value,
        "bad_id": report.bad_id,
    }


def _cmd_audit_verify(args: argparse.Namespace) -> int:
    result = asyncio.run(verify_audit_log(_settings(args)))
    if args.json:
        print_json(result)
    elif result["ok"]:
        print(f"event log intact: {result['checked']} event(s) verified, "
              f"last id {result['last_good_id']}")
    else:
        print(f"event log BROKEN at event {result['bad_id']}: {result['problem']} "
              f"({result['checked']} event(s) good before it, last good id "
              f"{result['last_good_id']})")
    return errors.EXIT_OK if result["ok"] else errors.EXIT_INVALID


# --- doctor -------------------------------------------------------------------------------


def _cmd_doctor(args: argparse.Namespace) -> int:
    from docnode.config import resolve_config_path
    from docnode.doctor import diagnose, render

    path = resolve_config_path(args.config, os.environ)
    report = asyncio.run(diagnose(path, check_network=not args.offline))
    if args.json:
        print_json(report.to_json())
    else:
        print(render(report))
    return errors.EXIT_OK if report.ok else errors.EXIT_INVALID


# --- archive --------------------------------------------------------------------------------


def _cmd_archive(args: argparse.Namespace) -> int:
    from docnode.retention import archive

    if args.older_than < 0:
        raise errors.UsageError("--older-than must be zero or more days")
    settings = _settings(args)
    out = Path(args.out) if args.out else None
    result = asyncio.run(archive(settings, older_than_days=args.older_than,
                                 now=datetime.now(UTC), out_dir=out, dry_run=args.dry_run))
    if args.json:
        print_json(result.to_json())
    else:
        verb = "would archive" if args.dry_run else "archived"
        print(f"{verb} {len(result.documents)} document group(s), "
              f"{result.events} event(s)" + (f" into {result.directory}" if
                                             result.directory else ""))
        if result.held_back:
            print(f"{result.held_back} eligible group(s) kept: their events are interleaved "
                  "with newer work (archived on a later run)")
    return errors.EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("audit-log", help="the tamper-evident event log")
    actions = p.add_subparsers(dest="audit_command", metavar="ACTION")
    actions.required = True
    v = actions.add_parser("verify", help="check the event hash chain (exit 1 at the first "
                                          "edited, deleted or reordered row)")
    _config_option(v)
    _json_option(v)
    v.set_defaults(func=_cmd_audit_verify)

    p = sub.add_parser("doctor", help="check config, keys, trust, store, queue and peers; "
                                      "say what is wrong and how to fix it")
    _config_option(p)
    p.add_argument("--offline", action="store_true", help="skip peer/axis reachability")
    _json_option(p)
    p.set_defaults(func=_cmd_doctor)

    p = sub.add_parser("archive", help="archive delivered/completed documents older than "
                                       "DAYS as files and prune them from the hot store")
    _config_option(p)
    p.add_argument("--older-than", type=int, required=True, metavar="DAYS")
    p.add_argument("--out", metavar="DIR", help="archive folder (default: DATA_DIR/archive)")
    p.add_argument("--dry-run", action="store_true", help="show what would be archived")
    _json_option(p)
    p.set_defaults(func=_cmd_archive)
