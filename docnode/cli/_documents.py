"""``docnode send | status | inbox | accept | refuse | assign | process | complete``.

These work on the store directly (DESIGN §9: whether or not the node runs). ``send`` records
the document in ONE transaction; the running node (which polls the queue) or its next start
dispatches it. Clerk actions queue a signed status packet the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import mimetypes
import os
import secrets
import sys
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from docnode import errors
from docnode.cli._output import print_json, print_pairs, print_table
from docnode.config import Settings, load_config, resolve_config_path
from docnode.store import Direction, DocumentKind

if TYPE_CHECKING:
    from docnode.service import NodeService

T = TypeVar("T")

ACTIONS = {
    "accept": ("03", "accept a received document (status 03)"),
    "refuse": ("02", "refuse a received document (status 02, --reason required)"),
    "assign": ("04", "assign a received document for handling (status 04)"),
    "process": ("05", "mark a received document as being processed (status 05)"),
    "complete": ("06", "mark a received document as completed (status 06)"),
}


def _settings(args: argparse.Namespace) -> Settings:
    return load_config(resolve_config_path(args.config, os.environ))


@asynccontextmanager
async def _service(settings: Settings) -> AsyncIterator[NodeService]:
    from docnode.app import open_node

    async with open_node(settings) as node:
        yield node.service


def _run(settings: Settings, use: Callable[[NodeService], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _service(settings) as service:
            return await use(service)

    return asyncio.run(main())


# --- send ----------------------------------------------------------------------------


def _metadata(args: argparse.Namespace) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if args.meta:
        path = Path(args.meta)
        try:
            text = path.read_text("utf-8")
            meta = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (OSError, ValueError) as exc:
            raise errors.InputUnreadable(f"cannot read metadata {path}: {exc}") from exc
    if args.to:
        meta["to"] = list(args.to)
    if args.subject:
        meta["subject"] = args.subject
    if args.content:
        meta["content"] = args.content
    if args.code:
        meta["code"] = args.code
    # A DocumentId is derived from (From, date, number/notation): mint a fresh number so
    # that two quick sends never collide.
    meta.setdefault("code", f"{secrets.randbelow(10**9):09d}/DOCNODE")
    return meta


def send_files(settings: Settings, meta: dict[str, Any], files: list[Path]) -> dict[str, Any]:
    from docnode.metadata import FileInput, edoc_from_metadata

    inputs = []
    for f in files:
        try:
            data = f.read_bytes()
        except OSError as exc:
            raise errors.InputUnreadable(f"cannot read {f}: {exc.strerror}") from exc
        ctype = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
        inputs.append(FileInput(name=f.name, data=data, content_type=ctype))

    async def use(service: NodeService) -> dict[str, Any]:
        now = service.now()
        edoc = edoc_from_metadata(meta, inputs, now=now, sender=service.organization())
        result = await service.submit(edoc, actor="cli")
        return {"document_id": result.document_id,
                "edxml_document_id": result.edxml_document_id,
                "packet_sha256": result.packet_sha256, "deliveries": result.deliveries}

    return _run(settings, use)


def _cmd_send(args: argparse.Namespace) -> int:
    result = send_files(_settings(args), _metadata(args), [Path(f) for f in args.files])
    if args.json:
        print_json(result)
    else:
        print_pairs([("edxml document id", result["edxml_document_id"]),
                     ("packet sha256", result["packet_sha256"]),
                     ("recipients", list(result["deliveries"]))])
        print(result["document_id"])
    return errors.EXIT_OK


# --- status / inbox ----------------------------------------------------------------------


async def document_timeline(service: NodeService, document_id: str) -> dict[str, Any]:
    """A document with its deliveries, each with its own timeline (and the document's)."""
    async with service.store.reader() as tx:
        doc = await tx.get_document(document_id)
        if doc is None:
            found = await tx.find_documents(document_id, direction=Direction.OUT,
                                            kind=DocumentKind.EDOC)
            doc = found[0] if found else None
        if doc is None:
            raise errors.NotFound(f"no document {document_id}", detail={"document_id": document_id})
        deliveries = await tx.deliveries_of(doc.id)
        events = await tx.timeline(doc.id)
    return {
        "document_id": doc.id, "edxml_document_id": doc.edxml_document_id,
        "direction": doc.direction.value, "kind": doc.kind.value, "subject": doc.subject,
        "from": doc.from_organ_id, "created_at": doc.created_at,
        "packet_sha256": doc.packet_sha256,
        "events": [_event(e) for e in events if e.delivery_id is None],
        "recipients": [
            {"organ_id": d.recipient_organ_id, "delivery_id": d.id, "state": d.state.value,
             "status_code": d.status_code, "status_at": d.status_at, "attempts": d.attempts,
             "last_error": d.last_error, "receipt_sha256": d.receipt_sha256,
             "route": d.route,
             "timeline": [_event(e) for e in events if e.delivery_id == d.id]}
            for d in deliveries
        ],
    }


def _event(e: Any) -> dict[str, Any]:
    return {"at": e.at, "kind": e.kind, "actor": e.actor, "evidence": json.loads(e.evidence)}


def _short(evidence: dict[str, Any]) -> str:
    keep = ("status_code", "receipt_sha256", "error", "reason", "why", "attempts", "delay_s")
    parts = []
    for key in keep:
        value = evidence.get(key)
        if value not in (None, ""):
            text = str(value)
            parts.append(f"{key}={text[:16] + '…' if len(text) > 20 else text}")
    return " ".join(parts)


def print_timeline(data: dict[str, Any], *, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    print_pairs([("document", data["document_id"]), ("edxml id", data["edxml_document_id"]),
                 ("subject", data["subject"]), ("from", data["from"])], out=stream)
    for event in data["events"]:
        print(f"  {event['at'].isoformat()}  {event['kind']:<16} {_short(event['evidence'])}",
              file=stream)
    for r in data["recipients"]:
        print(f"\nto {r['organ_id']}: {r['state']}  status {r['status_code'] or '-'}  "
              f"attempts {r['attempts']}", file=stream)
        for event in r["timeline"]:
            print(f"  {event['at'].isoformat()}  {event['kind']:<16} "
                  f"{_short(event['evidence'])}", file=stream)


def _cmd_status(args: argparse.Namespace) -> int:
    data = _run(_settings(args), lambda s: document_timeline(s, args.document_id))
    if args.json:
        print_json(data)
    else:
        print_timeline(data)
    return errors.EXIT_OK


async def inbox_rows(service: NodeService) -> list[dict[str, Any]]:
    async with service.store.reader() as tx:
        rows = []
        for entry in await tx.list_inbox(limit=1000):
            doc = await tx.get_document(entry.document_id)
            rows.append({"document_id": entry.document_id, "from": entry.from_organ_id,
                         "edxml_document_id": entry.edxml_document_id,
                         "subject": doc.subject if doc else "", "received_at": entry.received_at,
                         "status_code": entry.status_code, "packet_sha256": entry.packet_sha256})
    return rows


def _cmd_inbox(args: argparse.Namespace) -> int:
    rows = _run(_settings(args), inbox_rows)
    if args.json:
        print_json(rows)
    else:
        print_table(["document", "from", "status", "received", "subject"],
                    [[r["document_id"], r["from"], r["status_code"] or "-",
                      r["received_at"].isoformat(timespec="seconds"), r["subject"]] for r in rows])
    return errors.EXIT_OK


def _cmd_action(args: argparse.Namespace) -> int:
    code = ACTIONS[args.command][0]

    async def use(service: NodeService) -> dict[str, Any]:
        r = await service.change_status(args.document_id, code, reason=args.reason or "",
                                        actor="clerk:cli")
        return {"document_id": r.document_id, "status_code": r.status_code,
                "status_document_id": r.status_document_id}

    result = _run(_settings(args), use)
    if args.json:
        print_json(result)
    else:
        print(f"status {result['status_code']} queued for {result['document_id']}")
    return errors.EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", help="config file (default: $DOCNODE_CONFIG, "
                       "./docnode.toml)")
        p.add_argument("--json", action="store_true", help="one JSON document on stdout")

    p = sub.add_parser("send", help="sign and queue a document (prints its id last)")
    common(p)
    p.add_argument("--to", nargs="+", metavar="ORGAN", help="recipient OrganIds")
    p.add_argument("--subject")
    p.add_argument("--content")
    p.add_argument("--code", metavar="NUMBER/NOTATION")
    p.add_argument("--meta", metavar="FILE", help="metadata (JSON or TOML, see docs)")
    p.add_argument("files", nargs="*", metavar="FILE")
    p.set_defaults(func=_cmd_send)

    p = sub.add_parser("status", help="a document's timeline per recipient")
    common(p)
    p.add_argument("document_id", metavar="DOCUMENT_ID")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("inbox", help="received documents")
    common(p)
    p.set_defaults(func=_cmd_inbox)

    for name, (_code, help_text) in ACTIONS.items():
        p = sub.add_parser(name, help=help_text)
        common(p)
        p.add_argument("document_id", metavar="DOCUMENT_ID")
        p.add_argument("--reason", default="")
        p.set_defaults(func=_cmd_action)
