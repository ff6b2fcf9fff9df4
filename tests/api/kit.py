"""Factories for the API tests: two nodes' parts opened in-process (same dev CA), an API
context over one of them, tokens, multipart bodies, and a document received for real (B signs
and submits, A runs its receive path on B's stored packet bytes)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp

from docnode.api import ApiContext, UploadLimits
from docnode.api.auth import create_token
from docnode.app import Node
from docnode.changes import ChangeService
from docnode.metadata import FileInput, edoc_from_metadata
from docnode.transport.direct_server import PeerInfo

A_ORGAN, B_ORGAN = "000.00.00.G22", "000.00.00.H41"
PDF = b"%PDF-1.4\n% test attachment\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"


def api_context(parts: Node, *, upload: UploadLimits | None = None) -> ApiContext:
    limits = parts.settings.limits.to_limits()
    return ApiContext(
        service=parts.service, store=parts.store, clock=parts.clock,
        changes=ChangeService(parts.service, clock=parts.clock, offloader=parts.offloader,
                              limits=limits),
        certificates=lambda: [parts.signer.identity.certificate],
        upload=upload or UploadLimits(), limits=limits)


async def token_for(parts: Node, *organs: str, name: str = "clerk") -> str:
    _info, token = await create_token(parts.store, name=name,
                                      organ_ids=list(organs or parts.settings.node.organ_ids),
                                      served=parts.settings.node.organ_ids,
                                      now=datetime.now(UTC))
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def metadata(**over: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"to": [B_ORGAN], "code": "12/UBND-VP", "subject": "Kế hoạch 2027",
                            "content": "Nội dung"}
    meta.update(over)
    return meta


def form(meta: Any, files: Sequence[tuple[str, bytes, str]] = (("plan.pdf", PDF,
                                                                 "application/pdf"),),
         *, raw_meta: str | None = None) -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("metadata", raw_meta if raw_meta is not None else json.dumps(meta),
                   content_type="application/json")
    for name, body, ctype in files:
        data.add_field("file", body, filename=name, content_type=ctype)
    return data


async def receive_from(sender: Node, receiver: Node, *, subject: str = "Công văn đến",
                       code: str = "7/STC-VP") -> str:
    """B submits to A; A receives B's stored signed bytes. Returns A's document id."""
    edoc = edoc_from_metadata(
        {"to": [str(receiver.service.organization().organ_id)], "subject": subject,
         "code": code},
        [FileInput("to-trinh.pdf", PDF, "application/pdf")], now=datetime.now(UTC),
        sender=sender.service.organization())
    result = await sender.service.submit(edoc, actor="test")
    data = await sender.store.blobs.get(result.packet_sha256)
    await receiver.service.receive(data, peer=PeerInfo("127.0.0.1"))
    async with receiver.store.reader() as tx:
        found = await tx.find_inbox(str(sender.service.organization().organ_id),
                                    edoc.document_id)
    assert found is not None
    return found.document_id
