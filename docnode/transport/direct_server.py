"""Direct transport, receiving side: ``POST /edxml/v1/messages`` (DESIGN §2, §4, §7).

Rules:
1. The size limit holds WHILE streaming: ``Content-Length`` over the limit is refused before
   reading; otherwise the body is read in chunks and the request is refused with 413 the moment
   the count passes the limit, without buffering the rest (the connection is then closed).
2. ``Content-Encoding: gzip`` is decompressed here, incrementally, with its own cap on the
   decompressed size (a gzip bomb stops at the cap). aiohttp's automatic decompression is
   switched off on the listener (``auto_decompress=False``) so that both caps are ours.
3. This module knows HTTP only. What a packet means — verify, dedup, store, receipt — is the
   :class:`PacketReceiver`'s job (``docnode.service``); this module turns its outcome into
   202 (first time) / 200 (duplicate) with the signed receipt as the body, and its errors into
   problem+json through ``transport.problem``.
4. An unexpected exception is a 500 ``internal_error`` (retryable for the sender) and logged
   with its traceback here, never sent to the peer.
"""

from __future__ import annotations

import ssl
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aiohttp import web

from docnode import errors
from docnode.logging import bind, get_logger
from docnode.transport.problem import problem_for, problem_response
from envelopes.errors import TooLarge

MESSAGES_PATH = "/edxml/v1/messages"
XML_CONTENT_TYPES = frozenset({"application/xml", "text/xml"})
CHUNK_SIZE = 64 * 1024

log = get_logger("direct_server")

SECURITY_CODES = frozenset({
    "forbidden_xml", "signature_invalid", "signature_policy", "certificate_untrusted",
    "certificate_revoked", "sender_mismatch", "stale_packet",
})
"""Refusals that point at forgery, tampering or an attack rather than a broken sender: logged
as security events (``"security": true``) so that operators can alert on them."""


@dataclass(frozen=True, slots=True)
class ReceiveOutcome:
    """What the receive use case answers for one packet."""

    receipt: bytes
    """The signed receipt (status 01 naming the DocumentId and the packet's SHA-256)."""
    duplicate: bool = False
    """True when the same bytes were received before: 200 with the ORIGINAL receipt."""


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """Who sent the request, as far as the connection tells."""

    address: str
    """Remote address of the connection."""
    tls_subject: str | None = None
    """Subject of the verified TLS client certificate, when the listener asks for one."""


class PacketReceiver(Protocol):
    async def receive(self, data: bytes, *, peer: PeerInfo) -> ReceiveOutcome:
        """Run the receive path on ``data``; raise a library error to refuse it."""
        ...


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_body_bytes: int
    """Largest body accepted on the wire (compressed size when gzip)."""
    max_decoded_bytes: int
    """Largest packet accepted after decompression."""


RUNNER_OPTIONS: dict[str, float | bool] = {
    "auto_decompress": False,
    # After a refusal aiohttp drains the unread body (discarding it) before closing; one
    # second lets a polite client read our 413 without letting a slow one hold the slot.
    "lingering_time": 1.0,
}
"""Options for the ``web.AppRunner`` of the direct listener (rules 1, 2)."""

RECEIVER = web.AppKey("docnode.direct.receiver", PacketReceiver)
BODY_LIMITS = web.AppKey("docnode.direct.body_limits", BodyLimits)


class _GzipReader:
    """Incremental gzip decoding with a hard cap on the output (rule 2)."""

    def __init__(self, cap: int) -> None:
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._cap = cap
        self.out = bytearray()

    def feed(self, chunk: bytes) -> None:
        data = chunk
        while data:
            room = self._cap - len(self.out)
            try:
                piece = self._z.decompress(data, room + 1)
            except zlib.error as exc:
                raise errors.UnsupportedMediaType("the gzip body is corrupt") from exc
            self.out += piece
            if len(self.out) > self._cap:
                raise TooLarge(f"decompressed body exceeds {self._cap} bytes")
            data = self._z.unconsumed_tail

    def finish(self) -> bytes:
        try:
            self.out += self._z.flush()
        except zlib.error as exc:
            raise errors.UnsupportedMediaType("the gzip body is corrupt") from exc
        if len(self.out) > self._cap:
            raise TooLarge(f"decompressed body exceeds {self._cap} bytes")
        if not self._z.eof:
            raise errors.UnsupportedMediaType("the gzip body is truncated")
        return bytes(self.out)


async def read_body(request: web.Request, limits: BodyLimits) -> bytes:
    """The request body, refused as soon as it passes a limit (rules 1, 2)."""
    declared = request.content_length
    if declared is not None and declared > limits.max_body_bytes:
        raise TooLarge(f"body of {declared} bytes exceeds {limits.max_body_bytes}")
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", ""):
        raise errors.UnsupportedMediaType(f"unsupported Content-Encoding {encoding!r}")
    gz = _GzipReader(limits.max_decoded_bytes) if encoding == "gzip" else None
    plain = bytearray()
    received = 0
    async for chunk in request.content.iter_chunked(CHUNK_SIZE):
        received += len(chunk)
        if received > limits.max_body_bytes:
            raise TooLarge(f"body exceeds {limits.max_body_bytes} bytes")
        if gz is not None:
            gz.feed(chunk)
        else:
            plain += chunk
    return gz.finish() if gz is not None else bytes(plain)


def _peer_of(request: web.Request) -> PeerInfo:
    subject: str | None = None
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    if isinstance(cert, dict) and cert.get("subject"):
        subject = ",".join(f"{k}={v}" for rdn in cert["subject"] for k, v in rdn)
    return PeerInfo(address=request.remote or "", tls_subject=subject)


async def handle_message(request: web.Request) -> web.StreamResponse:
    peer = _peer_of(request)
    with bind(peer=peer.address):
        media = request.content_type
        try:
            if media not in XML_CONTENT_TYPES:
                raise errors.UnsupportedMediaType(f"expected application/xml, got {media!r}")
            data = await read_body(request, request.app[BODY_LIMITS])
            outcome = await request.app[RECEIVER].receive(data, peer=peer)
        except Exception as exc:
            return _refuse(exc)
        return web.Response(
            status=200 if outcome.duplicate else 202,
            body=outcome.receipt,
            content_type="application/xml",
            charset="utf-8",
        )


def _refuse(exc: Exception) -> web.Response:
    problem = problem_for(exc)
    if isinstance(exc, ConnectionError):
        # The peer reset or closed the connection while sending: nobody will read an answer,
        # and it is the network's doing, not ours (no traceback, no internal_error count).
        log.info("receive_aborted", error=type(exc).__name__)
        response = problem_response(problem)
        response.force_close()
        return response
    if problem.code == "internal_error":
        log.exception("receive_failed")
    elif problem.code in SECURITY_CODES:
        log.security("receive_refused", code=problem.code, reason=problem.reason)
    else:
        log.info("receive_refused", code=problem.code, reason=problem.reason)
    response = problem_response(problem)
    if problem.code in ("too_large", "unsupported_media_type"):
        # The rest of the body is not read: close instead of draining it (rule 1).
        response.force_close()
    return response


def direct_app(receiver: PacketReceiver, *, limits: BodyLimits) -> web.Application:
    """The aiohttp application of the direct listener (serve it with :data:`RUNNER_OPTIONS`)."""
    app = web.Application(client_max_size=limits.max_body_bytes)
    app[RECEIVER] = receiver
    app[BODY_LIMITS] = limits
    app.router.add_post(MESSAGES_PATH, handle_message)
    return app


def server_ssl_context(
    *,
    cert: Path,
    key: Path,
    client_cas: Sequence[Path] = (),
    require_client_cert: bool = False,
    key_password: bytes | None = None,
) -> ssl.SSLContext:
    """TLS for the listener; with ``client_cas`` peers may (or, required, must) present a
    client certificate chaining to one of them."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key), password=key_password)
    if client_cas:
        for ca in client_cas:
            ctx.load_verify_locations(cafile=str(ca))
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return ctx
