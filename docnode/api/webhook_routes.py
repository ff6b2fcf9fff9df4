"""``/api/v1/webhooks``: subscription CRUD and the delivery log (rules in
``docnode.api.webhooks``). A subscription belongs to an organisation the token covers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from docnode import errors
from docnode.api.auth import Caller
from docnode.api.context import context_of
from docnode.api.render import caller_of, json_response
from docnode.api.tables import WebhookSubscription
from docnode.api.upload import fail
from docnode.api.webhooks import (
    Subscriptions,
    check_events,
    check_url,
    delivery_log_view,
    subscription_view,
)

MAX_BODY = 64 * 1024
CREATE_KEYS = frozenset({"url", "organ_id", "events", "description", "secret"})
PATCH_KEYS = frozenset({"url", "events", "active", "description", "rotate_secret"})
MIN_SECRET = 16


def _subs(request: web.Request) -> Subscriptions:
    ctx = context_of(request)
    return Subscriptions(ctx.store, clock=ctx.clock)


async def _object(request: web.Request, keys: frozenset[str],
                  problems: list[dict[str, str]]) -> dict[str, Any]:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise errors.PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes")
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict):
        fail([{"field": "body", "message": "expected a JSON object"}])
        return {}
    for key in data:
        if key not in keys:
            problems.append({"field": str(key), "message": "unknown field"})
    return data


def _text(problems: list[dict[str, str]], data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        problems.append({"field": key, "message": "expected a string"})
        return None
    return value


async def _own(request: web.Request, caller: Caller) -> WebhookSubscription:
    row = await _subs(request).get(request.match_info["id"])
    caller.require(row.organ_id)
    return row


async def create(request: web.Request) -> web.StreamResponse:
    """POST /api/v1/webhooks: 201 with the secret (shown this once)."""
    caller = caller_of(request)
    problems: list[dict[str, str]] = []
    data = await _object(request, CREATE_KEYS, problems)
    url = check_url(data.get("url"), problems)
    events = check_events(data.get("events"), problems)
    description = _text(problems, data, "description") or ""
    secret = _text(problems, data, "secret")
    if secret is not None and len(secret) < MIN_SECRET:
        problems.append({"field": "secret", "message": f"at least {MIN_SECRET} characters"})
    organ_id = _text(problems, data, "organ_id")
    if organ_id is None and len(caller.organ_ids) != 1:
        problems.append({"field": "organ_id",
                         "message": "required: the token acts for several organisations"})
    fail(problems)
    organ = organ_id if organ_id is not None else caller.organ_ids[0]
    caller.require(organ)
    row = await _subs(request).create(organ_id=organ, url=url, events=events,
                                      description=description, secret=secret)
    return json_response(subscription_view(row, secret=True), status=201,
                         headers={"Location": f"/api/v1/webhooks/{row.id}"})


async def listing(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/webhooks."""
    rows = await _subs(request).list_for(caller_of(request).organ_ids)
    return json_response({"items": [subscription_view(r) for r in rows]})


async def show(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/webhooks/{id}."""
    return json_response(subscription_view(await _own(request, caller_of(request))))


async def patch(request: web.Request) -> web.StreamResponse:
    """PATCH /api/v1/webhooks/{id}: change url, events, active, description; rotate the
    secret (then it is in the answer, once)."""
    caller = caller_of(request)
    problems: list[dict[str, str]] = []
    data = await _object(request, PATCH_KEYS, problems)
    url = check_url(data["url"], problems) if "url" in data else None
    events = check_events(data["events"], problems) if "events" in data else None
    active, rotate = data.get("active"), data.get("rotate_secret", False)
    if active is not None and not isinstance(active, bool):
        problems.append({"field": "active", "message": "expected true or false"})
    if not isinstance(rotate, bool):
        problems.append({"field": "rotate_secret", "message": "expected true or false"})
    description = _text(problems, data, "description")
    fail(problems)
    await _own(request, caller)
    row = await _subs(request).update(request.match_info["id"], url=url, events=events,
                                      active=active, description=description,
                                      rotate_secret=rotate is True)
    return json_response(subscription_view(row, secret=rotate is True))


async def delete(request: web.Request) -> web.StreamResponse:
    """DELETE /api/v1/webhooks/{id} (with its delivery log)."""
    await _own(request, caller_of(request))
    await _subs(request).delete(request.match_info["id"])
    return web.Response(status=204)


async def deliveries(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/webhooks/{id}/deliveries: newest first; ``before`` = a sequence."""
    row = await _own(request, caller_of(request))
    problems: list[dict[str, str]] = []
    limit_text, before_text = request.query.get("limit", "20"), request.query.get("before")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
        problems.append({"field": "limit", "message": "an integer from 1 to 100"})
    if before_text is not None and not before_text.isdigit():
        problems.append({"field": "before", "message": "a sequence number"})
    fail(problems)
    limit = int(limit_text)
    items = await _subs(request).deliveries(
        row.id, limit=limit, before=int(before_text) if before_text else None)
    return json_response({"items": [delivery_log_view(d) for d in items],
                          "next_before": items[-1].sequence if len(items) == limit else None})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/webhooks", create)
    router.add_get("/v1/webhooks", listing)
    router.add_get("/v1/webhooks/{id}", show)
    router.add_patch("/v1/webhooks/{id}", patch)
    router.add_delete("/v1/webhooks/{id}", delete)
    router.add_get("/v1/webhooks/{id}/deliveries", deliveries)
