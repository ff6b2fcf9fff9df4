"""Actions on documents: clerk statuses on incoming ones (03/02/04/05/06, answers 15/16),
changes to outgoing ones (revoke, update, replace, take back 13); ``/v1/me`` and the
certificate expiry list the page's banner shows.

Rules:
1. Statuses on an incoming document go through ``NodeService.change_status`` (clerk codes)
   or ``ChangeService.answer_change`` (15/16); changes to an outgoing one through
   ``ChangeService``. Each is committed (signed packet queued) before the ``202``.
2. Refusing (02), refusing a change (16), revoking and taking back need a ``reason``.
3. An action that does not fit the document (a clerk status on an outgoing document, a
   revocation of an incoming one) is ``conflict`` (409).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from aiohttp import web

from docnode import errors
from docnode.api.context import context_of
from docnode.api.documents import load_document, submitted_body
from docnode.api.render import caller_of, json_response
from docnode.api.upload import fail, read_submission
from docnode.changes import StatusesQueued
from docnode.store import Direction, Document, DocumentKind
from envelopes.model import StaffInfo, StatusCode
from keystore.trust import expiring

CLERK_ACTIONS: dict[str, StatusCode] = {
    "accept": StatusCode.ACCEPTED,
    "refuse": StatusCode.REFUSED,
    "assign": StatusCode.ASSIGNED,
    "processing": StatusCode.PROCESSING,
    "complete": StatusCode.COMPLETED,
}
CHANGE_ANSWERS: dict[str, bool] = {"agree-change": True, "refuse-change": False}
ACTIONS = (*CLERK_ACTIONS, *CHANGE_ANSWERS)
STAFF_KEYS = ("department", "staff", "mobile", "email")
MAX_BODY = 64 * 1024


async def _json_body(request: web.Request) -> tuple[str, StaffInfo | None]:
    """``{"reason": str, "staff_info": {department, staff, mobile, email}}``, both optional;
    an empty body is ``{}``."""
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise errors.PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes")
    problems: list[dict[str, str]] = []
    data: Any = {}
    if raw.strip():
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            fail([{"field": "body", "message": "not JSON"}])
    if not isinstance(data, dict):
        fail([{"field": "body", "message": "expected a JSON object"}])
    for key in data:
        if key not in ("reason", "staff_info"):
            problems.append({"field": str(key), "message": "unknown field"})
    reason = data.get("reason", "")
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        problems.append({"field": "reason", "message": "expected a string"})
        reason = ""
    staff = _staff(problems, data.get("staff_info"))
    fail(problems)
    return reason, staff


def _staff(problems: list[dict[str, str]], raw: object) -> StaffInfo | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append({"field": "staff_info", "message": "expected an object"})
        return None
    bad = len(problems)
    for key, value in raw.items():
        if key not in STAFF_KEYS:
            problems.append({"field": f"staff_info.{key}", "message": "unknown field"})
        elif not isinstance(value, str):
            problems.append({"field": f"staff_info.{key}", "message": "expected a string"})
    if len(problems) > bad:
        return None
    return StaffInfo(**{k: raw.get(k, "") for k in STAFF_KEYS})


def _must_be(doc: Document, direction: Direction) -> None:
    if doc.direction != direction or doc.kind != DocumentKind.EDOC:
        what = "an incoming" if direction is Direction.IN else "an outgoing"
        raise errors.Conflict(f"document {doc.id} is not {what} edoc",
                              detail={"document_id": doc.id, "direction": str(doc.direction),
                                      "kind": str(doc.kind)})


def _queued(result: StatusesQueued) -> web.Response:
    return json_response({"document_id": result.document_id,
                          "status_code": result.status_code,
                          "status_document_ids": list(result.status_document_ids)}, status=202)


async def act(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/documents/{id}/actions/{action} (rules 1-3)."""
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise errors.NotFound(f"no action {action}", detail={"actions": list(ACTIONS)})
    ctx, caller, doc = await load_document(request)
    reason, staff = await _json_body(request)
    _must_be(doc, Direction.IN)
    if action in CHANGE_ANSWERS:
        result = await ctx.changes.answer_change(doc.id, agree=CHANGE_ANSWERS[action],
                                                 reason=reason, staff=staff,
                                                 actor=caller.actor)
    else:
        done = await ctx.service.change_status(doc.id, CLERK_ACTIONS[action], reason=reason,
                                               staff=staff, actor=caller.actor)
        result = StatusesQueued(done.document_id, done.status_code,
                                (done.status_document_id,))
    ctx.wake_webhooks()
    return _queued(result)


async def revoke(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/documents/{id}/revoke."""
    ctx, caller, doc = await load_document(request)
    reason, _staff = await _json_body(request)
    _must_be(doc, Direction.OUT)
    result = await ctx.changes.revoke(doc.id, reason=reason, actor=caller.actor)
    ctx.wake_webhooks()
    return json_response(submitted_body(result), status=202)


async def take_back(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/documents/{id}/take-back (status 13 to every recipient)."""
    ctx, caller, doc = await load_document(request)
    reason, staff = await _json_body(request)
    _must_be(doc, Direction.OUT)
    result = await ctx.changes.take_back(doc.id, reason=reason, staff=staff,
                                         actor=caller.actor)
    ctx.wake_webhooks()
    return _queued(result)


async def _changed(request: web.Request, *, replace: bool) -> web.StreamResponse:
    ctx, caller, doc = await load_document(request)
    sub = await read_submission(request, ctx.upload, files_required=False)
    if not isinstance(sub.meta, dict):
        fail(sub.problems)
    fail(sub.problems)
    _must_be(doc, Direction.OUT)
    if "from" in sub.meta:
        fail([{"field": "from", "message": "a change is sent by the original's sender"}])
    work = ctx.changes.replace if replace else ctx.changes.update
    result = await work(doc.id, sub.meta, sub.files, actor=caller.actor)
    ctx.wake_webhooks()
    return json_response(submitted_body(result), status=202,
                         headers={"Location": f"/api/v1/documents/{result.document_id}"})


async def update(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/documents/{id}/update (multipart, business type 2)."""
    return await _changed(request, replace=False)


async def replace(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/documents/{id}/replace (multipart, business type 3)."""
    return await _changed(request, replace=True)


async def me(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/me: the token's holder and organisations (the page's log-in check)."""
    ctx, caller = context_of(request), caller_of(request)
    return json_response({
        "name": caller.name, "token_id": caller.token_id,
        "organ_ids": list(caller.organ_ids),
        "organizations": [{"organ_id": o, "organ_name": ctx.service.organization(o).organ_name}
                          for o in caller.organ_ids if o in ctx.service.organ_ids]})


async def certificates(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/certificates/expiring: own and trusted certificates expiring within
    ``days`` (default 30, already expired ones included)."""
    ctx = context_of(request)
    text = request.query.get("days", "30")
    if not text.isdigit() or not 0 <= int(text) <= 3650:
        fail([{"field": "days", "message": "an integer from 0 to 3650"}])
    found = expiring(ctx.certificates(), within=timedelta(days=int(text)),
                     at=ctx.clock.now())
    return json_response({"items": [
        {"subject": e.subject, "fingerprint": e.fingerprint,
         "not_after": e.not_after.isoformat(), "days_left": round(e.days_left, 2)}
        for e in found]})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/documents/{id}/actions/{action}", act)
    router.add_post("/v1/documents/{id}/revoke", revoke)
    router.add_post("/v1/documents/{id}/update", update)
    router.add_post("/v1/documents/{id}/replace", replace)
    router.add_post("/v1/documents/{id}/take-back", take_back)
    router.add_get("/v1/me", me)
    router.add_get("/v1/certificates/expiring", certificates)
