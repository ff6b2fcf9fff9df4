"""The OpenAPI 3.1 description of the clerk API, written by hand to match the handlers
(``documents``, ``actions``, ``webhook_routes``; shapes from ``render``), served at
``/api/openapi.json``, with a browsable page at ``/api/docs`` (local assets, no CDN).

Rules: every operation lists its success answers and the problem+json answers it can give
(``default`` covers the rest); ``tests/api/test_openapi.py`` proves the routes and this
document name the same operations, and schemathesis checks answers against it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from docnode.api.actions import ACTIONS
from docnode.api.webhooks import ALL_EVENTS, EVENT_TYPES

DOCS_PAGE = Path(__file__).resolve().parent / "page" / "docs.html"
J = "application/json"
P = "application/problem+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(type_: str, **kw: Any) -> dict[str, Any]:
    return {"type": [type_, "null"], **kw}


def _obj(props: dict[str, Any], *, required: tuple[str, ...] | None = None,
         extra: bool = False) -> dict[str, Any]:
    return {"type": "object", "properties": props,
            "required": list(props if required is None else required),
            "additionalProperties": extra}


S = {"type": "string"}
DT = {"type": "string", "format": "date-time"}
INT = {"type": "integer"}


def _problem(desc: str) -> dict[str, Any]:
    return {"description": desc, "content": {P: {"schema": _ref("Problem")}}}


def _ok(desc: str, schema: dict[str, Any], status: str = "200",
        headers: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"description": desc, "content": {J: {"schema": schema}}}
    if headers:
        body["headers"] = headers
    return {status: body}


def _errors(*codes: int) -> dict[str, Any]:
    names = {400: "Bad request", 401: "No valid bearer token (`unauthorized`)",
             403: "The token does not cover the organisation (`forbidden`)",
             404: "No such resource (`not_found`)", 409: "Conflict (`conflict`)",
             413: "Too large (`payload_too_large`)",
             415: "Not multipart/form-data (`unsupported_media_type`)",
             422: "Invalid fields (`validation_failed`, with `errors`) or a registry code"}
    out = {str(c): _problem(names[c]) for c in (401, *codes)}
    out["default"] = _problem("Any other error, as problem+json (docnode/errors.py codes)")
    return out


def _op(op_id: str, summary: str, responses: dict[str, Any], *, tags: list[str],
        params: list[dict[str, Any]] | None = None, body: dict[str, Any] | None = None,
        description: str = "") -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": op_id, "summary": summary, "tags": tags,
                          "responses": responses, "security": [{"bearer": []}]}
    if description:
        op["description"] = description
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = body
    return op


def _path(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or S}


def _query(name: str, schema: dict[str, Any], desc: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": desc}


LIST_PARAMS = [
    _query("status", {"type": "string", "maxLength": 32},
           "Inbox: our latest status code (01..16). Outbox: a recipient's status code or a "
           "delivery state (queued, sending, delivered, failed, expired, dead_lettered)."),
    _query("counterparty", {"type": "string", "maxLength": 35},
           "Sender (inbox) or a recipient (outbox) OrganId."),
    _query("since", {"type": "string"}, "From this date (YYYY-MM-DD) or date-time."),
    _query("until", {"type": "string"}, "Up to this date (inclusive) or date-time."),
    _query("q", {"type": "string", "maxLength": 200}, "Text in the subject."),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "Page size (20)."),
    _query("cursor", {"type": "string"}, "`next_cursor` of the previous page."),
]
STAFF = _obj({"department": S, "staff": S, "mobile": S, "email": S}, required=())
JSON_ACTION_BODY = {"required": False, "content": {J: {"schema": _obj(
    {"reason": S, "staff_info": STAFF}, required=())}}}
MULTIPART = {"required": True, "content": {"multipart/form-data": {
    "schema": _obj({"metadata": _ref("Metadata"),
                    "file": {"type": "array", "items": {"type": "string",
                                                        "format": "binary"}}},
                   required=("metadata", "file")),
    "encoding": {"metadata": {"contentType": J}}}}}
CHANGE_MULTIPART = {"required": True, "content": {"multipart/form-data": {
    "schema": _obj({"metadata": _ref("Metadata"),
                    "file": {"type": "array", "items": {"type": "string",
                                                        "format": "binary"}}},
                   required=("metadata",)),
    "encoding": {"metadata": {"contentType": J}}}}}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                          "pattern": "^[\\x21-\\x7e]+$"},
               "description": "Same key + same request: the first answer again, never a "
                              "second document. Same key + another request: 409."}

DELIVERY_SUMMARY = _obj({"recipient_organ_id": S, "state": S,
                         "status_code": _nullable("string"), "status_at": _nullable("string")})
EVENT = _obj({"id": INT, "kind": S, "at": DT, "actor": S, "delivery_id": _nullable("string"),
              "evidence": {"type": "object"}})
DELIVERY = _obj({
    "id": S, "recipient_organ_id": S, "state": S, "status_code": _nullable("string"),
    "status_at": _nullable("string"), "route": S, "attempts": INT,
    "next_attempt_at": _nullable("string"), "last_error": _nullable("string"),
    "receipt_sha256": _nullable("string"), "axis_doc_id": _nullable("string"),
    "created_at": DT, "updated_at": DT, "timeline": {"type": "array", "items": _ref("Event")}})
SUMMARY_PROPS: dict[str, Any] = {
    "id": S, "direction": {"enum": ["in", "out"]}, "kind": {"enum": ["edoc", "status"]},
    "edxml_document_id": S, "organ_id": S, "counterparty": S, "from_organ_id": S,
    "subject": S, "code": S, "promulgation_date": _nullable("string"),
    "business_doc_type": INT, "verification": {"enum": ["verified", "unverified"]},
    "created_at": DT, "status_code": _nullable("string"), "status_at": _nullable("string"),
    "deliveries": {"type": "array", "items": _ref("DeliverySummary")}}
DETAIL_PROPS: dict[str, Any] = {
    **SUMMARY_PROPS, "packet_sha256": S, "packet_size": INT, "content": _nullable("string"),
    "due_date": _nullable("string"), "to": {"type": "array", "items": S},
    "business": {"oneOf": [{"type": "null"}, _obj({"doc_type": INT, "reason": S,
                                                   "document_id": S})]},
    "attachments": {"type": "array", "items": _obj(
        {"index": INT, "name": S, "content_type": S, "size": INT, "href": S})},
    "deliveries": {"type": "array", "items": _ref("Delivery")},
    "timeline": {"type": "array", "items": _ref("Event")}}
SUBMITTED = _obj({"id": S, "edxml_document_id": S, "packet_sha256": S,
                  "deliveries": {"type": "object", "additionalProperties": S},
                  "location": S})
STATUSES = _obj({"document_id": S, "status_code": S,
                 "status_document_ids": {"type": "array", "items": S}})
EVENT_NAMES = [*EVENT_TYPES.values(), ALL_EVENTS]
SUBSCRIPTION_PROPS: dict[str, Any] = {
    "id": S, "organ_id": S, "url": S, "events": {"type": "array", "items": S},
    "active": {"type": "boolean"}, "description": S, "created_at": DT, "updated_at": DT}
SUBSCRIPTION = _obj(SUBSCRIPTION_PROPS)
SUBSCRIPTION_WITH_SECRET = _obj({**SUBSCRIPTION_PROPS, "secret": S},
                                required=tuple(SUBSCRIPTION_PROPS))
WEBHOOK_DELIVERY = _obj({
    "id": S, "subscription_id": S, "sequence": INT, "event_type": S,
    "document_id": _nullable("string"), "state": {"enum": ["pending", "delivered", "failed"]},
    "attempts": INT, "last_status": _nullable("integer"), "last_error": _nullable("string"),
    "created_at": DT, "updated_at": DT, "delivered_at": _nullable("string")})
WEBHOOK_EVENT = _obj({
    "id": S, "type": {"enum": list(EVENT_TYPES.values())}, "sequence": INT, "occurred_at": DT,
    "organ_id": S, "document": _obj({"id": S, "direction": S, "edxml_document_id": S,
                                     "counterparty": S, "subject": S, "code": S}),
    "delivery_id": _nullable("string"), "status_code": _nullable("string"),
    "evidence": {"type": "object"}})
PROBLEM = {"type": "object", "required": ["type", "title", "status", "code"],
           "properties": {"type": S, "title": S, "status": INT, "detail": S, "code": S,
                          "retryable": {"type": "boolean"}, "reason": S,
                          "errors": {"type": "array", "items": _obj({"field": S,
                                                                     "message": S})}},
           "additionalProperties": True}
METADATA = {"type": "object", "additionalProperties": True,
            "description": "edXML header fields in snake_case (docnode/metadata.py): to, code, "
                           "subject, content, document_type, signer_info, priority, due_date, "
                           "steering_type, response_for, to_places, staff_info, promulgation, "
                           "other_info, business; `from` defaults to the token's organisation.",
            "properties": {"to": {"type": "array"}, "subject": S, "code": {}}}

DOC_ID = _path("id")


def _paths() -> dict[str, Any]:
    docs, acts, hooks = ["documents"], ["actions"], ["webhooks"]
    doc = ("200", "Detail with per-recipient timelines and evidence")
    return {
        "/api/v1/documents": {"post": _op(
            "submitDocument", "Submit a document (multipart: metadata + files)",
            {**_ok("Committed and queued", _ref("Submitted"), "202",
                   {"Location": {"schema": S}}), **_errors(409, 413, 415, 422)},
            tags=docs, params=[IDEMPOTENCY], body=MULTIPART)},
        "/api/v1/outbox": {"get": _op(
            "listOutbox", "Outgoing documents, newest first",
            {**_ok("A page", _ref("DocumentPage")), **_errors(422)}, tags=docs,
            params=LIST_PARAMS)},
        "/api/v1/inbox": {"get": _op(
            "listInbox", "Incoming documents, newest first",
            {**_ok("A page", _ref("DocumentPage")), **_errors(422)}, tags=docs,
            params=LIST_PARAMS)},
        "/api/v1/documents/{id}": {"get": _op(
            "getDocument", "One document", {**_ok(doc[1], _ref("DocumentDetail")),
                                            **_errors(403, 404)},
            tags=docs, params=[DOC_ID])},
        "/api/v1/documents/{id}/packet": {"get": _op(
            "getPacket", "The original signed packet",
            {"200": {"description": "edXML bytes", "content": {"application/xml": {
                "schema": {"type": "string", "format": "binary"}}}},
             **_errors(403, 404)}, tags=docs, params=[DOC_ID])},
        "/api/v1/documents/{id}/attachments/{index}": {"get": _op(
            "getAttachment", "One attachment's bytes",
            {"200": {"description": "The file", "content": {"*/*": {
                "schema": {"type": "string", "format": "binary"}}}},
             **_errors(403, 404)}, tags=docs, params=[DOC_ID, _path("index")])},
        "/api/v1/documents/{id}/actions/{action}": {"post": _op(
            "actOnIncoming", "Status on an incoming document",
            {**_ok("Status packet queued", _ref("StatusesQueued"), "202"),
             **_errors(403, 404, 409, 413, 422)}, tags=acts,
            description="accept 03, refuse 02 (reason), assign 04, processing 05, complete "
                        "06, agree-change 15, refuse-change 16 (reason).",
            params=[DOC_ID, _path("action", {"enum": list(ACTIONS)})], body=JSON_ACTION_BODY)},
        "/api/v1/documents/{id}/revoke": {"post": _op(
            "revokeOutgoing", "Revoke an outgoing document (type 1, reason)",
            {**_ok("Revocation queued", _ref("Submitted"), "202"),
             **_errors(403, 404, 409, 413, 422)}, tags=acts, params=[DOC_ID],
            body=JSON_ACTION_BODY)},
        "/api/v1/documents/{id}/update": {"post": _op(
            "updateOutgoing", "Send an update of an outgoing document (type 2)",
            {**_ok("Update queued", _ref("Submitted"), "202"),
             **_errors(403, 404, 409, 413, 415, 422)}, tags=acts, params=[DOC_ID],
            body=CHANGE_MULTIPART)},
        "/api/v1/documents/{id}/replace": {"post": _op(
            "replaceOutgoing", "Send a replacement of an outgoing document (type 3)",
            {**_ok("Replacement queued", _ref("Submitted"), "202"),
             **_errors(403, 404, 409, 413, 415, 422)}, tags=acts, params=[DOC_ID],
            body=CHANGE_MULTIPART)},
        "/api/v1/documents/{id}/take-back": {"post": _op(
            "takeBack", "Ask the recipients to give a document back (13, reason)",
            {**_ok("Status packets queued", _ref("StatusesQueued"), "202"),
             **_errors(403, 404, 409, 413, 422)}, tags=acts, params=[DOC_ID],
            body=JSON_ACTION_BODY)},
        "/api/v1/me": {"get": _op(
            "me", "The token's holder and organisations",
            {**_ok("Caller", _obj({"name": S, "token_id": S,
                                   "organ_ids": {"type": "array", "items": S},
                                   "organizations": {"type": "array", "items": _obj(
                                       {"organ_id": S, "organ_name": S})}})),
             **_errors()}, tags=["node"])},
        "/api/v1/directory": {"get": _op(
            "directory", "Who this node can send to: direct peers and the axis directory",
            {**_ok("Directory", _obj({"items": {"type": "array", "items": _obj(
                {"organ_id": S, "name": S,
                 "route": {"type": "string", "description":
                           "`direct:<url>`, `axis`, or `none` (no route: sending fails)"},
                 "sources": {"type": "array", "items": {"enum": [
                     "config", "api", "store", "axis"]}},
                 "mail": S, "parent": S, "synced_at": _nullable("string",
                                                               format="date-time")})},
                "total": INT})), **_errors(422)},
            tags=["node"], params=[
                _query("q", S, "Substring of the OrganId or name (case-insensitive)."),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 5000},
                       "At most this many items (500).")])},
        "/api/v1/certificates/expiring": {"get": _op(
            "expiringCertificates", "Own and trusted certificates expiring soon",
            {**_ok("Certificates", _obj({"items": {"type": "array", "items": _obj(
                {"subject": S, "fingerprint": S, "not_after": DT,
                 "days_left": {"type": "number"}})}})), **_errors(422)},
            tags=["node"], params=[_query("days", {"type": "integer", "minimum": 0,
                                                   "maximum": 3650}, "Window (30).")])},
        "/api/v1/webhooks": {
            "get": _op("listWebhooks", "Webhook subscriptions",
                       {**_ok("Subscriptions", _obj({"items": {
                           "type": "array", "items": _ref("Subscription")}})), **_errors()},
                       tags=hooks),
            "post": _op("createWebhook", "Subscribe (the secret is returned once)",
                        {**_ok("Created", _ref("SubscriptionWithSecret"), "201",
                               {"Location": {"schema": S}}), **_errors(403, 413, 422)},
                        tags=hooks, body={"required": True, "content": {J: {"schema": _obj(
                            {"url": {"type": "string", "format": "uri"},
                             "organ_id": S, "description": S,
                             "secret": {"type": "string", "minLength": 16},
                             "events": {"type": "array", "minItems": 1,
                                        "items": {"enum": EVENT_NAMES}}},
                            required=("url",))}}})},
        "/api/v1/webhooks/{id}": {
            "get": _op("getWebhook", "One subscription",
                       {**_ok("Subscription", _ref("Subscription")), **_errors(403, 404)},
                       tags=hooks, params=[DOC_ID]),
            "patch": _op("updateWebhook", "Change a subscription or rotate its secret",
                         {**_ok("Subscription (with `secret` when rotated)",
                                {"oneOf": [_ref("SubscriptionWithSecret"),
                                           _ref("Subscription")]}),
                          **_errors(403, 404, 413, 422)}, tags=hooks, params=[DOC_ID],
                         body={"required": True, "content": {J: {"schema": _obj(
                             {"url": {"type": "string", "format": "uri"},
                              "description": S, "active": {"type": "boolean"},
                              "rotate_secret": {"type": "boolean"},
                              "events": {"type": "array", "minItems": 1,
                                         "items": {"enum": EVENT_NAMES}}},
                             required=())}}}),
            "delete": _op("deleteWebhook", "Unsubscribe (the delivery log goes too)",
                          {"204": {"description": "Deleted"}, **_errors(403, 404)},
                          tags=hooks, params=[DOC_ID])},
        "/api/v1/webhooks/{id}/deliveries": {"get": _op(
            "webhookDeliveries", "Delivery log, newest event first",
            {**_ok("Log", _obj({"items": {"type": "array", "items": _ref("WebhookDelivery")},
                                "next_before": _nullable("integer")})),
             **_errors(403, 404, 422)}, tags=hooks,
            params=[DOC_ID, _query("limit", {"type": "integer", "minimum": 1, "maximum": 100},
                                   "Page size (20)."),
                    _query("before", {"type": "integer", "minimum": 0},
                           "Only events before this sequence.")])},
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "docnode clerk API", "version": "1.0.0",
                 "description": "Send and receive edXML (QCVN 102:2016) documents through "
                                "this node. Errors are RFC 9457 problem+json with a stable "
                                "`code`."},
        "servers": [{"url": "/"}],
        "paths": _paths(),
        "webhooks": {"documentEvent": {"post": {
            "summary": "An event POSTed to a subscription's URL",
            "description": "Headers: Docnode-Signature `t=<unix>,v1=<hex HMAC-SHA256(secret, "
                           "t + '.' + body)>`, Docnode-Event, Docnode-Delivery. Answer 2xx; "
                           "anything else is retried later, in order; 410 unsubscribes.",
            "requestBody": {"content": {J: {"schema": _ref("WebhookEvent")}}},
            "responses": {"200": {"description": "Taken"}}}}},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "docnode tokens create"}},
            "schemas": {
                "Problem": PROBLEM, "Metadata": METADATA, "Event": EVENT,
                "DeliverySummary": DELIVERY_SUMMARY, "Delivery": DELIVERY,
                "DocumentSummary": _obj(SUMMARY_PROPS),
                "DocumentDetail": _obj(DETAIL_PROPS),
                "DocumentPage": _obj({"items": {"type": "array",
                                                "items": _ref("DocumentSummary")},
                                      "next_cursor": _nullable("string")}),
                "Submitted": SUBMITTED, "StatusesQueued": STATUSES,
                "Subscription": SUBSCRIPTION, "SubscriptionWithSecret": SUBSCRIPTION_WITH_SECRET,
                "WebhookDelivery": WEBHOOK_DELIVERY, "WebhookEvent": WEBHOOK_EVENT,
            }},
    }


async def openapi_json(_request: web.Request) -> web.StreamResponse:
    return web.json_response(document())


async def docs_page(_request: web.Request) -> web.StreamResponse:
    return web.FileResponse(DOCS_PAGE, headers={"Cache-Control": "no-store"})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/openapi.json", openapi_json)
    router.add_get("/docs", docs_page)
