"""Direct transport, sending side: push one stored packet to a peer (DESIGN §2, §5).

Rules:
1. The body is the exact stored bytes, signed once at submission; this module never re-encodes.
2. Only a COMPLETE 200/202 response whose body is a receipt that verifies — signature, trust,
   it names our DocumentId and the SHA-256 of what we sent — counts as delivery. The check
   itself is the injected :class:`ReceiptChecker` (the service's, which uses the receive-path
   verification); a receipt that does not hold is retryable (``peer_unavailable``): the peer
   may have stored the packet, and a retry gets the original receipt back as a duplicate.
3. 4xx other than 408/429 → :class:`~docnode.errors.PeerRejected` (permanent, never retried),
   carrying the peer's problem ``code``/``reason``. 5xx, 408, 429, timeouts and connection
   errors → :class:`~docnode.errors.PeerUnavailable` with the peer's ``Retry-After``, if any.
4. The ``aiohttp.ClientSession`` is owned by the app (created and closed in its cleanup_ctx);
   this client only borrows it.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Protocol

import aiohttp

from docnode.errors import PeerRejected, PeerUnavailable
from docnode.transport.direct_server import MESSAGES_PATH
from docnode.transport.problem import PROBLEM_CONTENT_TYPE, Problem

MAX_RESPONSE_BYTES = 1024 * 1024
"""A receipt is a few KB; anything longer is not one (and is not read further)."""
MAX_RETRY_AFTER_S = 3600.0


@dataclass(frozen=True, slots=True)
class ReceiptEvidence:
    """What a verified receipt proves (stored with the ``delivered`` event)."""

    receipt_sha256: str
    """SHA-256 of the receipt bytes as received."""
    signer_organ_id: str
    """OrganId the receipt's signing certificate speaks for."""
    at: datetime | None = None
    """The receipt's own Timestamp (when the recipient says it arrived)."""


class ReceiptChecker(Protocol):
    async def check(
        self, receipt: bytes, *, document_id: str, packet_sha256: str, recipient: str
    ) -> ReceiptEvidence:
        """Verify ``receipt`` for the packet; raise a library error when it does not hold."""
        ...


@dataclass(frozen=True, slots=True)
class Delivery:
    """A successful delivery."""

    http_status: int
    receipt: bytes
    evidence: ReceiptEvidence
    duplicate: bool
    """The peer had the packet already (200) and returned the original receipt."""
    axis_doc_id: str | None = None
    """Set when the packet went to the VXP axis: its DocId is the evidence (no receipt)."""


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), bounded."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, min((when - now).total_seconds(), MAX_RETRY_AFTER_S))


def _problem_of(body: bytes, content_type: str, status: int) -> Problem | None:
    if content_type != PROBLEM_CONTENT_TYPE:
        return None
    try:
        return Problem.from_json(json.loads(body), status=status)
    except (ValueError, UnicodeDecodeError):
        return None


class DirectClient:
    """POSTs packets to direct peers through a borrowed session (rule 4)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        receipts: ReceiptChecker,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._session = session
        self._receipts = receipts
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect_timeout_s)
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True

    async def deliver(
        self,
        url: str,
        data: bytes,
        *,
        document_id: str,
        recipient: str,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Delivery:
        """Send ``data`` to the peer at ``url``; return the verified receipt or raise."""
        target = url.rstrip("/") + MESSAGES_PATH
        sent_sha256 = hashlib.sha256(data).hexdigest()
        try:
            async with self._session.post(
                target,
                data=data,
                headers={"Content-Type": "application/xml; charset=utf-8"},
                timeout=self._timeout,
                ssl=ssl_context if ssl_context is not None else self._ssl,
                allow_redirects=False,
            ) as resp:
                body = await resp.content.read(MAX_RESPONSE_BYTES + 1)
                status = resp.status
                content_type = resp.content_type
                retry_after = parse_retry_after(
                    resp.headers.get("Retry-After"), now=datetime.now(UTC)
                )
        except TimeoutError as exc:
            raise PeerUnavailable(
                f"timeout talking to {target}", detail={"peer_code": "timeout"}
            ) from exc
        except aiohttp.ClientError as exc:
            raise PeerUnavailable(
                f"{type(exc).__name__} talking to {target}",
                detail={"peer_code": "connection_error"},
            ) from exc
        if len(body) > MAX_RESPONSE_BYTES:
            raise PeerUnavailable(
                "response too long to be a receipt", detail={"http_status": status}
            )
        if status in (200, 202):
            evidence = await self._check(body, document_id, sent_sha256, recipient, status)
            return Delivery(status, body, evidence, duplicate=status == 200)
        problem = _problem_of(body, content_type, status)
        detail: dict[str, object] = {"http_status": status}
        if problem is not None:
            detail["peer_code"] = problem.code
            if problem.reason:
                detail["peer_reason"] = problem.reason
        if 400 <= status < 500 and status not in (408, 429):
            what = problem.code if problem is not None else f"HTTP {status}"
            raise PeerRejected(f"peer refused the packet: {what}", detail=detail)
        raise PeerUnavailable(
            f"peer answered HTTP {status}", retry_after=retry_after, detail=detail
        )

    async def _check(
        self, body: bytes, document_id: str, sent_sha256: str, recipient: str, status: int
    ) -> ReceiptEvidence:
        try:
            return await self._receipts.check(
                body, document_id=document_id, packet_sha256=sent_sha256, recipient=recipient
            )
        except Exception as exc:
            code = getattr(exc, "code", "internal_error")
            raise PeerUnavailable(
                "the peer's receipt does not verify",
                detail={
                    "http_status": status,
                    "peer_code": "receipt_invalid",
                    "receipt_error": str(code),
                },
            ) from exc


def client_ssl_context(
    *,
    cafiles: Sequence[Path] = (),
    client_cert: Path | None = None,
    client_key: Path | None = None,
    key_password: bytes | None = None,
) -> ssl.SSLContext:
    """TLS for outgoing direct connections: trust ``cafiles`` (our peers' TLS CA, never the
    OS store when given), optionally present a client certificate."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafiles:
        ctx.load_verify_locations(cafile=str(cafiles[0]))
        for extra in cafiles[1:]:
            ctx.load_verify_locations(cafile=str(extra))
    if client_cert is not None:
        ctx.load_cert_chain(
            str(client_cert), str(client_key) if client_key else None, password=key_password
        )
    return ctx
