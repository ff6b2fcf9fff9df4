"""Rows -> the API's JSON (the shapes ``docnode.api.openapi`` describes, field for field).

Rules: times are ISO 8601 in UTC with an offset; dates ``YYYY-MM-DD``; absent values are
``null`` rather than missing, so a client sees every documented field every time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum
from typing import Any

from aiohttp import web

from docnode.api.auth import Caller
from docnode.store import Delivery, Document, Event, InboxEntry

CALLER: web.RequestKey[Caller] = web.RequestKey("docnode_api_caller", Caller)
"""Request key of the authenticated :class:`Caller` (set by the API middleware)."""


def caller_of(request: web.Request) -> Caller:
    return request[CALLER]


def _default(value: object) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"not JSON: {type(value).__name__}")


def dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, default=_default)


def json_response(data: object, *, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=dumps(data), status=status, content_type="application/json",
                        headers=headers)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def event_view(e: Event) -> dict[str, Any]:
    return {"id": e.id, "kind": e.kind, "at": _iso(e.at), "actor": e.actor,
            "delivery_id": e.delivery_id, "evidence": json.loads(e.evidence or "{}")}


def delivery_summary(d: Delivery) -> dict[str, Any]:
    return {"recipient_organ_id": d.recipient_organ_id, "state": str(d.state),
            "status_code": d.status_code, "status_at": _iso(d.status_at)}


def delivery_view(d: Delivery, timeline: Sequence[Event]) -> dict[str, Any]:
    return {
        "id": d.id, **delivery_summary(d), "route": d.route, "attempts": d.attempts,
        "next_attempt_at": _iso(d.next_attempt_at), "last_error": d.last_error,
        "receipt_sha256": d.receipt_sha256, "axis_doc_id": d.axis_doc_id,
        "created_at": _iso(d.created_at), "updated_at": _iso(d.updated_at),
        "timeline": [event_view(e) for e in timeline],
    }


def document_summary(doc: Document, *, inbox: InboxEntry | None,
                     deliveries: Sequence[Delivery]) -> dict[str, Any]:
    return {
        "id": doc.id, "direction": str(doc.direction), "kind": str(doc.kind),
        "edxml_document_id": doc.edxml_document_id, "organ_id": doc.organ_id,
        "counterparty": doc.counterparty, "from_organ_id": doc.from_organ_id,
        "subject": doc.subject, "code": doc.code,
        "promulgation_date": None if doc.promulgation_date is None
        else doc.promulgation_date.isoformat(),
        "business_doc_type": doc.business_doc_type, "verification": str(doc.verification),
        "created_at": _iso(doc.created_at),
        "status_code": inbox.status_code if inbox is not None else None,
        "status_at": _iso(inbox.status_at) if inbox is not None else None,
        "deliveries": [delivery_summary(d) for d in deliveries],
    }
