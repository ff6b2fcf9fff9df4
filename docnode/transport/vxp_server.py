"""VXP axis server (DESIGN §2 "vxp", ``axis`` role): the HTTP side of ``docnode.axis``.

Rules (spec/vxp-test-vectors.md §1, §3, §4):
1. Accept exactly what the reference SDK sends: POST on ``{prefix}/{operation}``, parameters
   only in headers (looked up case-insensitively: ``docId``/``docid``), ``Expect:
   100-continue`` (aiohttp answers it before the body is read), ``to`` as JSON text or a quoted
   string, the sendEdoc body minus one trailing CR LF, ``filePath`` ignored, stale signed keys
   ignored, a timestamp reused for days accepted (``docnode.axis.timestamps``: only a
   timestamp the system never used before must be fresh; replays are the hub's
   seen-request cache).
2. Produce what the SDK parses: ALWAYS HTTP 200 and a JSON object with string ``status``,
   ``ErrorCode`` (``"0"`` or our stable error code) and ``ErrorDesc``; sendEdoc always carries
   ``DocId`` (``""`` on failure) and only ASCII; lists a ``data`` array without any null.
3. Every request's HMAC is checked (``vxp_protocol.verify_request``) before anything else
   happens, then its timestamp window; a failed check is logged as a security event WITHOUT
   the secret or the HMAC.
4. This module knows HTTP only; what a request means is the :class:`~docnode.axis.hub.AxisHub`'s.
   An unexpected exception is ``internal_error`` (retryable for our client), logged here.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from docnode import errors
from docnode.axis.hub import AxisHub
from docnode.logging import bind, get_logger
from docnode.ratelimit import RateLimits, install_rate_limits, vxp_system_key
from docnode.transport import vxp_protocol as vxp
from docnode.transport.vxp_protocol import MessageType, Operation, VerifiedRequest
from envelopes.errors import EnvelopeError, TooLarge
from keystore.errors import KeystoreError

log = get_logger("vxp_server")

HUB_KEY = web.AppKey("axis_hub", AxisHub)
MAX_BODY_SLACK = 1024 * 1024

Handler = Callable[[AxisHub, VerifiedRequest], Awaitable[dict[str, Any]]]


def _message_type(req: VerifiedRequest) -> str:
    value = (req.param("messagetype") or MessageType.EDOC.value).lower()
    if value not in (MessageType.EDOC.value, MessageType.STATUS.value):
        raise errors.AxisRequestInvalid(f"unknown messagetype {value!r}")
    return value


async def _send(hub: AxisHub, req: VerifiedRequest) -> dict[str, Any]:
    if req.packet is None:
        raise errors.AxisRequestInvalid("sendEdoc without a body")
    declared = req.param("messagetype")
    doc_id = await hub.accept(system_id=req.system_id, packet=req.packet,
                              replay_key=req.replay_key,
                              declared_type=declared.lower() if declared else None,
                              requested=vxp.parse_to(req.param("to")))
    return vxp.ok_response(DocId=doc_id)


async def _received(hub: AxisHub, req: VerifiedRequest) -> dict[str, Any]:
    return vxp.ok_response(data=await hub.received(req.system_id, _message_type(req)))


async def _get(hub: AxisHub, req: VerifiedRequest) -> dict[str, Any]:
    data = await hub.fetch(req.system_id, req.require("docId"))
    return vxp.ok_response(data=base64.b64encode(data).decode("ascii"))


async def _update(hub: AxisHub, req: VerifiedRequest) -> dict[str, Any]:
    await hub.acknowledge(req.system_id, req.require("docId"), req.require("status"))
    return vxp.ok_response()


async def _sent(hub: AxisHub, req: VerifiedRequest) -> dict[str, Any]:
    return vxp.ok_response(data=await hub.sent(req.system_id, _message_type(req),
                                               req.param("docId") or None))


async def _agencies(hub: AxisHub, req: VerifiedRequest) -> dict[str, Any]:
    return vxp.ok_response(data=await hub.agencies())


async def _count_edoc(hub: AxisHub, req: VerifiedRequest) -> dict[str, Any]:
    return vxp.ok_response(count=await hub.count(req.system_id, MessageType.EDOC.value))


async def _count_status(hub: AxisHub, req: VerifiedRequest) -> dict[str, Any]:
    return vxp.ok_response(count=await hub.count(req.system_id, MessageType.STATUS.value))


HANDLERS: dict[Operation, Handler] = {
    Operation.SEND_EDOC: _send,
    Operation.GET_RECEIVED_EDOC_LIST: _received,
    Operation.GET_EDOC: _get,
    Operation.UPDATE_STATUS: _update,
    Operation.GET_SENT_EDOC_LIST: _sent,
    Operation.GET_AGENCIES_LIST: _agencies,
    Operation.COUNT_RECEIVE_EDOC: _count_edoc,
    Operation.COUNT_RECEIVE_STATUS: _count_status,
}


def _failure(operation: Operation, exc: Exception) -> dict[str, Any]:
    spec = errors.spec_for(exc)
    message = getattr(exc, "message", None) or str(exc) or spec.code
    extra: dict[str, Any] = {"DocId": ""} if operation is Operation.SEND_EDOC else {}
    if operation in (Operation.GET_RECEIVED_EDOC_LIST, Operation.GET_SENT_EDOC_LIST,
                     Operation.GET_AGENCIES_LIST):
        extra["data"] = []
    return vxp.fail_response(spec.code, message, **extra)


def _endpoint(operation: Operation) -> Callable[[web.Request], Awaitable[web.Response]]:
    handler = HANDLERS[operation]

    async def endpoint(request: web.Request) -> web.Response:
        hub = request.app[HUB_KEY]
        peer = request.remote or ""
        with bind(peer=peer, operation=operation.value):
            try:
                body = await request.read()
                verified = vxp.verify_request(operation, request.raw_headers, body,
                                              secret_for=hub.secret_for)
                with bind(system_id=verified.system_id):
                    await hub.timestamps.check(verified.system_id,
                                               verified.signed.get(vxp.TIMESTAMP, ""))
                    answer = await handler(hub, verified)
            except errors.AxisAuthFailed as exc:
                log.warning("axis_auth_failed", security=True,
                            **{k: v for k, v in exc.detail.items() if k == "system_id"})
                answer = _failure(operation, exc)
            except errors.ReplayedRequest as exc:
                log.warning("axis_replayed_request", security=True)
                answer = _failure(operation, exc)
            except (errors.DocnodeError, EnvelopeError, KeystoreError) as exc:
                log.info("axis_refused", code=errors.spec_for(exc).code)
                answer = _failure(operation, exc)
            except web.HTTPRequestEntityTooLarge:
                answer = _failure(operation, TooLarge("the request body exceeds the limit"))
            except Exception:
                log.exception("axis_internal_error")
                answer = _failure(operation, errors.InternalError("internal error"))
        return web.Response(body=vxp.encode_response(answer), status=200,
                            content_type="application/json", charset="utf-8")

    endpoint.__name__ = f"vxp_{operation.value}"
    return endpoint


def add_vxp_routes(app: web.Application, *, prefix: str = "") -> None:
    """Register every operation under ``prefix`` (the endpoint MAY have a path prefix)."""
    base = prefix.rstrip("/")
    for operation in Operation:
        app.router.add_post(f"{base}/{operation.value}", _endpoint(operation))


def _rate_refusal(request: web.Request, error: errors.RateLimited) -> web.Response:
    """A 429 the SDK can read: the VXP JSON shape (status FAIL, DocId on sendEdoc)."""
    name = request.path.rstrip("/").rsplit("/", 1)[-1]
    operation = next((op for op in Operation if op.value == name), Operation.COUNT_RECEIVE_EDOC)
    return web.Response(body=vxp.encode_response(_failure(operation, error)), status=429,
                        content_type="application/json", charset="utf-8")


def build_vxp_app(
    hub: AxisHub,
    *,
    max_packet_bytes: int,
    prefix: str = "",
    rate_limits: RateLimits | None = None,
) -> web.Application:
    """The axis's aiohttp application (the caller runs it and owns the hub's resources).
    ``rate_limits`` (default :class:`RateLimits` defaults) apply per client system and
    address, answered in the VXP JSON shape with 429 and Retry-After."""
    # A 64 MiB packet fits; the VXP body is the packet plus CR LF.
    app = web.Application(client_max_size=max_packet_bytes + MAX_BODY_SLACK)
    app[HUB_KEY] = hub
    add_vxp_routes(app, prefix=prefix)
    install_rate_limits(app, rate_limits or RateLimits(), key=vxp_system_key,
                        refusal=_rate_refusal)
    return app
