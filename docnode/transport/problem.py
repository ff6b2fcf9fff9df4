"""RFC 9457 problem details built from any error, through the ONE registry (docnode/errors).

Rules:
1. The HTTP status, the retryable flag and the ``title`` come from ``docnode.errors``; nothing
   here invents a status.
2. ``code`` is the stable lower_snake_case code; certificate errors add ``reason``.
3. Errors we do not know (bugs) become ``internal_error`` WITHOUT their message: an exception's
   text may carry paths or values that are none of the peer's business.
4. Retryable answers carry ``Retry-After`` so a well-behaved sender backs off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from docnode import errors
from envelopes.errors import EnvelopeError
from keystore.errors import KeystoreError

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:docnode:problem:"
"""``type`` is a URN per code: stable, and no promise of a dereferenceable page."""
DEFAULT_RETRY_AFTER_S = 5


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem+json document."""

    code: str
    """Stable error code (docnode/errors.py REGISTRY)."""
    status: int
    """HTTP status."""
    title: str
    """One-line human title of the code."""
    detail: str = ""
    """What went wrong this time (never secrets)."""
    reason: str | None = None
    """Sub-indication of certificate errors (keystore Reason value)."""
    retryable: bool = False
    """Whether the sender should try again later."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Further machine-readable members (element, line, problems, …)."""

    @property
    def type(self) -> str:
        return PROBLEM_TYPE_PREFIX + self.code

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            "retryable": self.retryable,
        }
        if self.reason is not None:
            body["reason"] = self.reason
        for key, value in self.extras.items():
            body.setdefault(key, value)
        return body

    @classmethod
    def from_json(cls, data: object, *, status: int) -> Problem | None:
        """Read a peer's problem+json; None when the body is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("code"), str):
            return None
        reason = data.get("reason")
        return cls(
            code=data["code"],
            status=data["status"] if isinstance(data.get("status"), int) else status,
            title=str(data.get("title", "")),
            detail=str(data.get("detail", "")),
            reason=reason if isinstance(reason, str) else None,
            retryable=bool(data.get("retryable", False)),
        )


def problem_for(error: BaseException) -> Problem:
    """The problem document for an exception (rule 1–3)."""
    spec = errors.spec_for(error)
    extras: dict[str, Any] = {}
    reason: str | None = None
    if isinstance(error, errors.DocnodeError):
        detail = error.message
        extras.update(error.detail)
    elif isinstance(error, EnvelopeError):
        detail = error.message
        if error.element:
            extras["element"] = error.element
        if error.line:
            extras["line"] = error.line
    elif isinstance(error, KeystoreError):
        detail = error.message
        reason = error.reason.value if error.reason is not None else None
    else:
        detail = "internal error"
    return Problem(
        code=spec.code,
        status=spec.http_status,
        title=errors.title_for(error) if spec.code != "internal_error" else "Internal error",
        detail=detail,
        reason=reason,
        retryable=spec.retryable,
        extras=extras,
    )


def problem_response(problem: Problem | BaseException) -> web.Response:
    """An aiohttp response carrying the problem (rule 4 for retryable codes)."""
    if isinstance(problem, BaseException):
        problem = problem_for(problem)
    headers = {}
    if problem.retryable:
        headers["Retry-After"] = str(DEFAULT_RETRY_AFTER_S)
    return web.Response(
        status=problem.status,
        body=json.dumps(problem.to_json(), ensure_ascii=False).encode(),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )
