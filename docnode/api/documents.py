"""``/api/v1/documents``, ``/api/v1/outbox``, ``/api/v1/inbox``: submit, list, detail,
download.

Rules:
1. A submission is committed by ``NodeService.submit`` in ONE transaction before the ``202``
   (so it survives a restart right after the answer).
2. ``Idempotency-Key`` (per token): the same key with the same request answers the first
   answer again (``Idempotent-Replayed: true``) and never creates a second document; the same
   key with a different request is ``conflict`` (409). The key is stored in the submit's own
   transaction, so a document and its key commit together or not at all; a retry racing
   the first request meets its document (``conflict`` on the DocumentId) and then its key.
3. Lists are newest first, keyset-paginated: ``next_cursor`` names the last row shown.
4. A document of an organisation the token does not cover is ``forbidden``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import and_, exists, func, or_, select
from sqlmodel import col

from docnode import errors
from docnode.api.auth import Caller
from docnode.api.context import ApiContext, context_of
from docnode.api.render import (
    caller_of,
    delivery_view,
    document_summary,
    event_view,
    json_response,
)
from docnode.api.upload import fail, read_submission, request_digest
from docnode.metadata import edoc_from_metadata
from docnode.service import SubmitResult
from docnode.store import (
    Delivery,
    DeliveryState,
    Direction,
    Document,
    DocumentKind,
    InboxEntry,
    Verification,
)
from docnode.store.sync_tx import SyncTransaction
from envelopes.model import Edoc
from envelopes.read import read_packet

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_KEY_LEN = 255
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as in the OpenAPI pattern
DELIVERY_STATES = frozenset(s.value for s in DeliveryState)


# --- submit ------------------------------------------------------------------------------


def submitted_body(result: SubmitResult) -> dict[str, Any]:
    return {"id": result.document_id, "edxml_document_id": result.edxml_document_id,
            "packet_sha256": result.packet_sha256, "deliveries": dict(result.deliveries),
            "location": f"/api/v1/documents/{result.document_id}"}


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if KEY_PATTERN.fullmatch(key) is None:
        raise errors.ValidationFailed("bad Idempotency-Key", detail={"errors": [
            {"field": "Idempotency-Key",
             "message": f"1-{MAX_KEY_LEN} visible ASCII characters, no spaces"}]})
    return key


def sender_of(caller: Caller, meta: Any) -> str:
    """Whose document this is: ``from`` if given (checked by the scope), else the token's
    only organisation."""
    if isinstance(meta, dict) and meta.get("from") is not None:
        raw = meta["from"]
        oid = raw.get("organ_id") if isinstance(raw, dict) else raw
        if isinstance(oid, str):
            caller.require(oid.strip())
        return str(oid) if isinstance(oid, str) else caller.organ_ids[0]
    if len(caller.organ_ids) != 1:
        raise errors.ValidationFailed("say which organisation sends", detail={"errors": [
            {"field": "from", "message": "required: the token acts for several organisations"}]})
    return caller.organ_ids[0]


async def _replay(ctx: ApiContext, scope: str, key: str, digest: str) -> dict[str, Any] | None:
    async with ctx.store.reader() as tx:
        row = await tx.get_idempotency(scope, key)
    if row is None:
        return None
    if row.request_sha256 != digest:
        raise errors.Conflict("this Idempotency-Key was used for a different request",
                              detail={"idempotency_key": key})
    body: dict[str, Any] = json.loads(row.response)
    return body


async def submit(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/documents (rules 1, 2)."""
    ctx, caller = context_of(request), caller_of(request)
    key = idempotency_key(request)
    sub = await read_submission(request, ctx.upload)
    digest = request_digest(sub.meta, sub.files)
    if key is not None:
        earlier = await _replay(ctx, caller.token_id, key, digest)
        if earlier is not None:
            return json_response(earlier, status=202, headers={
                "Location": earlier["location"], "Idempotent-Replayed": "true"})
    if not isinstance(sub.meta, dict):
        fail(sub.problems)
    sender = sender_of(caller, sub.meta)
    try:
        edoc = edoc_from_metadata(sub.meta, sub.files, now=ctx.clock.now(),
                                  sender=ctx.service.organization(sender)
                                  if sender in ctx.service.organ_ids else None)
    except errors.ValidationFailed as exc:
        fail(sub.problems, exc)
        raise
    fail(sub.problems)
    caller.require(str(edoc.from_.organ_id))

    def remember(tx: SyncTransaction, result: SubmitResult) -> None:
        # Rule 2: the key is written in the submit's own transaction, so no crash can
        # leave the document without it.
        if key is not None:
            tx.put_idempotency(scope=caller.token_id, key=key, request_sha256=digest,
                               response=submitted_body(result), now=ctx.clock.now(),
                               document_id=result.document_id)

    try:
        body = submitted_body(await ctx.service.submit(edoc, actor=caller.actor,
                                                       also=remember))
    except errors.Conflict:
        # Rule 2: a racing retry with the same key — the first request has committed its
        # document and key by now, so answer what it answered.
        earlier = None if key is None else await _replay(ctx, caller.token_id, key, digest)
        if earlier is None:
            raise
        body = earlier
    ctx.wake_webhooks()
    return json_response(body, status=202, headers={"Location": body["location"]})


# --- lists -------------------------------------------------------------------------------


def _when(problems: list[dict[str, str]], name: str, text: str | None,
          *, end: bool) -> datetime | None:
    if text is None or text == "":
        return None
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime.combine(d, time.max if end else time.min, tzinfo=UTC)
        value = datetime.fromisoformat(text)
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    except ValueError:
        problems.append({"field": name, "message": "expected a date or an ISO 8601 date-time"})
        return None


def encode_cursor(doc: Document) -> str:
    raw = json.dumps([doc.created_at.isoformat(), doc.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(problems: list[dict[str, str]], text: str | None) -> tuple[datetime, str] | None:
    if not text:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        at, doc_id = json.loads(raw)
        when = datetime.fromisoformat(at)
        if not isinstance(doc_id, str) or when.tzinfo is None:
            raise ValueError("bad cursor")
        return when, doc_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        problems.append({"field": "cursor", "message": "not a cursor this API gave"})
        return None


def _limit(problems: list[dict[str, str]], text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        problems.append({"field": "limit", "message": f"an integer from 1 to {MAX_LIMIT}"})
        return DEFAULT_LIMIT
    return int(text)


async def _list(request: web.Request, direction: Direction) -> web.StreamResponse:
    ctx, caller = context_of(request), caller_of(request)
    qs = request.query
    problems: list[dict[str, str]] = []
    since = _when(problems, "since", qs.get("since"), end=False)
    until = _when(problems, "until", qs.get("until"), end=True)
    limit = _limit(problems, qs.get("limit"))
    after = _cursor(problems, qs.get("cursor"))
    fail(problems)
    q = select(Document).where(col(Document.direction) == direction,
                               col(Document.kind) == DocumentKind.EDOC,
                               col(Document.organ_id).in_(caller.organ_ids))
    status, party, text = qs.get("status"), qs.get("counterparty"), qs.get("q")
    if direction is Direction.IN:
        q = q.join(InboxEntry, col(InboxEntry.document_id) == col(Document.id))
        if status:
            q = q.where(col(InboxEntry.status_code) == status)
        if party:
            q = q.where(col(Document.from_organ_id) == party)
    else:
        mine = col(Delivery.document_id) == col(Document.id)
        if status:
            # The state column binds through its enum: only compare a known state's value.
            match = (col(Delivery.status_code) == status
                     if status not in DELIVERY_STATES
                     else or_(col(Delivery.status_code) == status,
                              col(Delivery.state) == DeliveryState(status)))
            q = q.where(exists().where(mine, match))
        if party:
            q = q.where(exists().where(mine, col(Delivery.recipient_organ_id) == party))
    if text:
        q = q.where(func.lower(col(Document.subject)).contains(text.lower(), autoescape=True))
    if since is not None:
        q = q.where(col(Document.created_at) >= since)
    if until is not None:
        q = q.where(col(Document.created_at) <= until)
    if after is not None:
        at, doc_id = after
        q = q.where(or_(col(Document.created_at) < at,
                        and_(col(Document.created_at) == at, col(Document.id) < doc_id)))
    q = q.order_by(col(Document.created_at).desc(), col(Document.id).desc()).limit(limit + 1)
    async with ctx.store.reader() as tx:
        docs = list((await tx.session.execute(q)).scalars().all())
        more = len(docs) > limit
        docs = docs[:limit]
        ids = [d.id for d in docs]
        inbox = {i.document_id: i for i in (await tx.session.execute(
            select(InboxEntry).where(col(InboxEntry.document_id).in_(ids)))).scalars()}
        deliveries: dict[str, list[Delivery]] = {}
        for d in (await tx.session.execute(
                select(Delivery).where(col(Delivery.document_id).in_(ids))
                .order_by(col(Delivery.recipient_organ_id)))).scalars():
            deliveries.setdefault(d.document_id, []).append(d)
    items = [document_summary(d, inbox=inbox.get(d.id), deliveries=deliveries.get(d.id, []))
             for d in docs]
    return json_response({"items": items,
                          "next_cursor": encode_cursor(docs[-1]) if more and docs else None})


async def list_outbox(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/outbox (rule 3)."""
    return await _list(request, Direction.OUT)


async def list_inbox(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/inbox (rule 3)."""
    return await _list(request, Direction.IN)


# --- one document ------------------------------------------------------------------------


async def load_document(request: web.Request) -> tuple[ApiContext, Caller, Document]:
    """The ``{id}`` document, scope-checked (rule 4)."""
    ctx, caller = context_of(request), caller_of(request)
    document_id = request.match_info["id"]
    async with ctx.store.reader() as tx:
        doc = await tx.get_document(document_id)
    if doc is None:
        raise errors.NotFound(f"no document {document_id}", detail={"document_id": document_id})
    caller.require(doc.organ_id)
    return ctx, caller, doc


async def decoded(ctx: ApiContext, doc: Document) -> Edoc | None:
    """The stored packet of an edoc, decoded (signature checked when it arrived)."""
    if doc.kind != DocumentKind.EDOC:
        return None
    data = await ctx.store.blobs.get(doc.packet_sha256)
    read = await asyncio.to_thread(read_packet, data, limits=ctx.limits,
                                   lenient=doc.verification == Verification.UNVERIFIED)
    return read.packet if isinstance(read.packet, Edoc) else None


async def detail(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/documents/{id}: the document, per-recipient timelines and evidence."""
    ctx, _caller, doc = await load_document(request)
    async with ctx.store.reader() as tx:
        inbox = await tx.get_inbox(doc.id)
        deliveries = list(await tx.deliveries_of(doc.id))
        timelines = {d.id: await tx.delivery_timeline(d.id) for d in deliveries}
        timeline = await tx.timeline(doc.id)
    edoc = await decoded(ctx, doc)
    body = document_summary(doc, inbox=inbox, deliveries=deliveries)
    body.update({
        "packet_sha256": doc.packet_sha256, "packet_size": doc.packet_size,
        "status_code": doc.status_code if doc.kind == DocumentKind.STATUS
        else body["status_code"],
        "content": None if edoc is None else edoc.content,
        "due_date": None if edoc is None or edoc.due_date is None
        else edoc.due_date.isoformat(),
        "to": [] if edoc is None else [str(o.organ_id) for o in edoc.to],
        "business": None if edoc is None else {
            "doc_type": int(edoc.business.doc_type), "reason": edoc.business.reason,
            "document_id": edoc.business.document_id},
        "attachments": [] if edoc is None else [
            {"index": i, "name": a.name, "content_type": a.content_type, "size": len(a.data),
             "href": f"/api/v1/documents/{doc.id}/attachments/{i}"}
            for i, a in enumerate(edoc.attachments)],
        "deliveries": [delivery_view(d, timelines[d.id]) for d in deliveries],
        "timeline": [event_view(e) for e in timeline],
    })
    return json_response(body)


def _disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


async def packet(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/documents/{id}/packet: the original signed bytes, as received or sent."""
    ctx, _caller, doc = await load_document(request)
    data = await ctx.store.blobs.get(doc.packet_sha256)
    return web.Response(body=data, content_type="application/xml", headers={
        "Content-Disposition": _disposition(f"{doc.id}.edxml"),
        "Digest": f"sha-256={base64.b64encode(bytes.fromhex(doc.packet_sha256)).decode()}"})


async def attachment(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/documents/{id}/attachments/{index}."""
    ctx, _caller, doc = await load_document(request)
    edoc = await decoded(ctx, doc)
    text = request.match_info["index"]
    index = int(text) if text.isdigit() else -1
    if edoc is None or not 0 <= index < len(edoc.attachments):
        raise errors.NotFound(f"no attachment {text} in {doc.id}",
                              detail={"document_id": doc.id, "index": text})
    att = edoc.attachments[index]
    # The stored media type may carry parameters (charset=…): pass it as a header.
    return web.Response(body=att.data, headers={
        "Content-Type": att.content_type or "application/octet-stream",
        "Content-Disposition": _disposition(att.name)})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/documents", submit)
    router.add_get("/v1/outbox", list_outbox)
    router.add_get("/v1/inbox", list_inbox)
    router.add_get("/v1/documents/{id}", detail)
    router.add_get("/v1/documents/{id}/packet", packet)
    router.add_get("/v1/documents/{id}/attachments/{index}", attachment)
