"""Offline packet tools: ``docnode pack``, ``docnode pack-status``, ``docnode unpack``.

They work on files only (no node, no store): build and sign a packet from a metadata file,
or read one and extract its attachments. ``unpack`` does NOT check the signature (that is
``docnode verify``); it says so in its output.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from docnode import errors
from docnode.cli._output import print_json, print_pairs, print_table

DEFAULT_PASSPHRASE_ENV = "DOCNODE_KEY_PASSPHRASE"  # noqa: S105 - a variable name


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "pack",
        help="build and sign an edoc packet from metadata and files",
        description="Build an edXML edoc from META (TOML or JSON) and FILEs, sign it with "
        "KEY/CERT and write it to OUT.",
    )
    p.add_argument("meta", metavar="META", type=Path, help="metadata file (.toml or .json)")
    p.add_argument("files", metavar="FILE", type=Path, nargs="*", help="files to attach")
    _signing_options(p)
    p.add_argument(
        "--raw",
        action="store_true",
        help="attach files as they are (base64) instead of the VNPT default (zip + base64)",
    )
    p.set_defaults(func=cmd_pack)

    s = sub.add_parser(
        "pack-status",
        help="build and sign a status packet from metadata",
        description="Build an edXML status packet (codes 01-06, 13, 15, 16) from META.",
    )
    s.add_argument("meta", metavar="META", type=Path, help="metadata file (.toml or .json)")
    _signing_options(s)
    s.set_defaults(func=cmd_pack_status)

    u = sub.add_parser(
        "unpack",
        help="read a packet, print its header, extract its attachments",
        description="Parse PACKET (hardened), print the header and extract attachments to DIR."
        " The signature is NOT checked here: use `docnode verify`.",
    )
    u.add_argument("packet", metavar="PACKET", type=Path)
    u.add_argument("-d", "--dir", type=Path, help="extract attachments into this folder")
    u.add_argument(
        "--lenient",
        action="store_true",
        help="accept the VNPT SDK's warts (junk before <?xml, undeclared xlink:)",
    )
    u.add_argument("--json", action="store_true", help="print one JSON document")
    u.set_defaults(func=cmd_unpack)


def _signing_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", required=True, type=Path, help="signing key (encrypted PKCS#8 PEM)")
    p.add_argument("--cert", required=True, type=Path, help="signing certificate (PEM)")
    p.add_argument(
        "--chain", action="append", type=Path, default=[], help="intermediate CA (PEM), repeat"
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--passphrase-env",
        metavar="VAR",
        help=f"env variable holding the key passphrase (default ${DEFAULT_PASSPHRASE_ENV})",
    )
    g.add_argument("--passphrase-file", metavar="FILE", type=Path, help="file holding it")
    p.add_argument("-o", "--output", required=True, type=Path, help="where to write the packet")


def read_metadata(path: Path) -> dict[str, Any]:
    """A metadata file: TOML by default, JSON when it ends in .json."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise errors.InputUnreadable(f"cannot read {path}: {exc.strerror}") from exc
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw.decode("utf-8"))
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise errors.ValidationFailed(f"{path}: not valid metadata: {exc}") from exc
    if not isinstance(data, dict):
        raise errors.ValidationFailed(f"{path}: metadata must be an object")
    return data


def _identity(args: argparse.Namespace) -> Any:
    from keystore.identity import load_identity, read_passphrase

    env, file = args.passphrase_env, args.passphrase_file
    if env is None and file is None:
        # The config's default variable (DESIGN §9), so `pack` and `run` agree.
        env = DEFAULT_PASSPHRASE_ENV
        if env not in os.environ:
            raise errors.UsageError(
                f"the key passphrase is needed: set ${env}, or give --passphrase-env VAR "
                "or --passphrase-file FILE"
            )
    passphrase = read_passphrase(env=env, file=file, environ=os.environ)
    return load_identity(
        key=args.key, cert=args.cert, chain=tuple(args.chain), passphrase=passphrase
    )


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        raise errors.InputUnreadable(f"cannot write {path}: {exc.strerror}") from exc


def cmd_pack(args: argparse.Namespace) -> int:
    from docnode.metadata import FileInput, edoc_from_metadata
    from envelopes.edxml import AttachmentEncoding
    from envelopes.packet import pack_edoc

    meta = read_metadata(args.meta)
    files = []
    for f in args.files:
        try:
            data = f.read_bytes()
        except OSError as exc:
            raise errors.InputUnreadable(f"cannot read {f}: {exc.strerror}") from exc
        ctype = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
        files.append(FileInput(name=f.name, data=data, content_type=ctype))
    edoc = edoc_from_metadata(meta, files, now=datetime.now(UTC))
    ident = _identity(args)
    packet = pack_edoc(
        edoc,
        key=ident.key,
        certificate=ident.certificate,
        chain=ident.chain,
        encoding=AttachmentEncoding.RAW if args.raw else AttachmentEncoding.ZIP,
    )
    _write(args.output, packet)
    print(f"packed {edoc.document_id} ({len(edoc.attachments)} attachment(s), "
          f"{len(packet)} bytes) -> {args.output}")
    return errors.EXIT_OK


def cmd_pack_status(args: argparse.Namespace) -> int:
    from docnode.metadata import status_from_metadata
    from envelopes.packet import pack_status

    status = status_from_metadata(read_metadata(args.meta), now=datetime.now(UTC))
    ident = _identity(args)
    packet = pack_status(
        status, key=ident.key, certificate=ident.certificate, chain=ident.chain
    )
    _write(args.output, packet)
    print(f"packed status {status.status_code.value} for "
          f"{status.response_for.document_id} ({len(packet)} bytes) -> {args.output}")
    return errors.EXIT_OK


def safe_file_name(name: str, taken: set[str]) -> str:
    """A file name that cannot leave the target folder: the last path component of the
    sender's AttachmentName (both separators), no leading dots, unique within ``taken``."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    base = "".join(c for c in base if c.isprintable() and c not in '<>:"|?*') or "attachment"
    candidate, n = base, 1
    stem, dot, ext = base.rpartition(".")
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}.{ext}" if dot and stem else f"{base}-{n}"
    taken.add(candidate)
    return candidate


def cmd_unpack(args: argparse.Namespace) -> int:
    from envelopes.model import Edoc
    from envelopes.read import read_packet

    try:
        data = args.packet.read_bytes()
    except OSError as exc:
        raise errors.InputUnreadable(f"cannot read {args.packet}: {exc.strerror}") from exc
    read = read_packet(data, lenient=args.lenient)
    packet = read.packet
    written: list[dict[str, object]] = []
    if args.dir is not None and isinstance(packet, Edoc):
        args.dir.mkdir(parents=True, exist_ok=True)
        taken: set[str] = set()
        for att in packet.attachments:
            target = args.dir / safe_file_name(att.name, taken)
            _write(target, att.data)
            written.append({"name": att.name, "path": str(target), "size": len(att.data)})
    summary = packet_summary(packet)
    if args.json:
        print_json({
            "packet": str(args.packet),
            "signature_checked": False,
            "warnings": list(read.warnings),
            "header": summary,
            "extracted": written,
        })
        return errors.EXIT_OK
    print(f"{args.packet}: {summary['kind']} packet (signature NOT checked; "
          "use `docnode verify`)")
    print_pairs((k, v) for k, v in summary.items() if k not in ("attachments", "kind"))
    atts = summary.get("attachments")
    if isinstance(atts, list) and atts:
        print()
        print_table(
            ("attachment", "type", "bytes"),
            [(a["name"], a["content_type"], a["size"]) for a in atts],
        )
    for w in read.warnings:
        print(f"warning: {w}")
    for item in written:
        print(f"extracted {item['name']} -> {item['path']}")
    return errors.EXIT_OK


def packet_summary(packet: object) -> dict[str, object]:
    """The header fields a person checks first, as plain data."""
    from envelopes.model import Edoc, StatusMessage

    if isinstance(packet, Edoc):
        return {
            "kind": "edoc",
            "document_id": packet.document_id,
            "from": str(packet.from_.organ_id),
            "from_name": packet.from_.organ_name,
            "to": [str(o.organ_id) for o in packet.to],
            "code": f"{packet.code.code_number}/{packet.code.code_notation}",
            "promulgation": f"{packet.promulgation_info.place} "
            f"{packet.promulgation_info.promulgation_date.isoformat()}".strip(),
            "document_type": packet.document_type.type_name,
            "subject": packet.subject,
            "signer": packet.signer_info.full_name,
            "due_date": packet.due_date.isoformat() if packet.due_date else None,
            "priority": packet.other_info.priority,
            "business_doc_type": int(packet.business.doc_type),
            "trace": [
                f"{t.organ_id or '?'} {t.timestamp.isoformat()}" for t in packet.trace_headers
            ],
            "attachments": [
                {"name": a.name, "content_type": a.content_type, "size": len(a.data)}
                for a in packet.attachments
            ],
        }
    if isinstance(packet, StatusMessage):
        return {
            "kind": "status",
            "from": str(packet.from_.organ_id),
            "from_name": packet.from_.organ_name,
            "status_code": packet.status_code.value,
            "meaning": packet.status_code.meaning,
            "response_for": packet.response_for.document_id,
            "response_for_organ": str(packet.response_for.organ_id or ""),
            "description": packet.description,
            "timestamp": packet.timestamp.isoformat(),
            "staff": packet.staff_info.staff,
        }
    raise errors.InternalError(f"unknown packet type {type(packet).__name__}")
