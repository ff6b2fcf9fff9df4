"""The clerk API's aiohttp application (mounted at ``/api`` on the ``api`` listener) and the
page's (mounted at ``/page``).

Rules:
1. Every error leaves as RFC 9457 problem+json built by ``docnode.transport.problem`` from the
   ONE registry (``docnode.errors``); aiohttp's own 404/405/413 are mapped to registry codes.
   A bug is ``internal_error`` without its message, logged with its traceback.
2. Everything under ``/api/v1`` needs a bearer token (``docnode.api.auth``); the OpenAPI
   document and the docs page do not (they describe, they do not act).
3. Handlers only parse, authorise and render; use cases live in ``docnode.service`` and
   ``docnode.changes``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Protocol

from aiohttp import web

from docnode import errors
from docnode.api import actions, directory, documents, openapi, webhook_routes
from docnode.api.auth import authenticate
from docnode.api.context import API_CONTEXT, ApiContext, ApiSlot, UploadLimits, context_of
from docnode.api.render import CALLER
from docnode.api.webhooks import WebhookRelay
from docnode.changes import ChangeService
from docnode.clock import Clock
from docnode.config import Settings
from docnode.dispatch import Dispatcher
from docnode.logging import get_logger
from docnode.offload import Offloader
from docnode.service import NodeService
from docnode.signer import PacketSigner
from docnode.store import Store
from docnode.transport.problem import problem_response
from docnode.verification import VerificationContext
from envelopes.errors import EnvelopeError
from envelopes.limits import Limits
from keystore.errors import KeystoreError

log = get_logger("api")

PAGE_DIR = Path(__file__).resolve().parent / "page"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_CODES: dict[int, type[errors.DocnodeError]] = {
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.PayloadTooLarge,
    415: errors.UnsupportedMediaType,
}


def _from_http(exc: web.HTTPException) -> web.StreamResponse:
    cls = _HTTP_CODES.get(exc.status)
    if cls is None:
        cls = errors.UsageError if 400 <= exc.status < 500 else errors.InternalError
    resp = problem_response(cls(exc.reason or cls.title))
    if exc.status == 405 and "Allow" in exc.headers:
        resp.headers["Allow"] = exc.headers["Allow"]
    return resp


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Rules 1 and 2."""
    try:
        if request.path.startswith("/api/v1/"):
            request[CALLER] = await authenticate(context_of(request).store,
                                                 request.headers.get("Authorization"))
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http(exc)
    except (errors.DocnodeError, EnvelopeError, KeystoreError) as exc:
        resp = problem_response(exc)
        if isinstance(exc, errors.Unauthorized):
            resp.headers["WWW-Authenticate"] = 'Bearer realm="docnode"'
        return resp
    except Exception as exc:
        log.exception("api_handler_crashed", path=request.path)
        return problem_response(exc)


def api_subapp(slot: ApiSlot) -> web.Application:
    """The API, to be mounted at ``/api`` (its routes are relative to that prefix)."""
    app = web.Application(middlewares=[problem_middleware])
    app[API_CONTEXT] = slot
    openapi.add_routes(app.router)
    documents.add_routes(app.router)
    actions.add_routes(app.router)
    directory.add_routes(app.router)
    webhook_routes.add_routes(app.router)
    return app


async def _page_index(_request: web.Request) -> web.StreamResponse:
    return web.FileResponse(PAGE_DIR / "index.html", headers={"Cache-Control": "no-store"})


def page_subapp() -> web.Application:
    """The clerks' page, to be mounted at ``/page``: ``/page/`` and its local assets."""
    app = web.Application(middlewares=[problem_middleware])
    app.router.add_get("/", _page_index)
    app.router.add_static("/assets", PAGE_DIR, show_index=False)
    return app


def install(parent: web.Application, slot: ApiSlot) -> None:
    """Mount the API at ``/api`` and the page at ``/page`` on the daemon's ``api``
    application (its own routes, ``/healthz`` and the like, stay as they are)."""
    parent.add_subapp("/api", api_subapp(slot))
    parent.add_subapp("/page", page_subapp())


def api_app(ctx: ApiContext) -> web.Application:
    """A stand-alone application serving exactly what :func:`install` adds (tests)."""
    root = web.Application()
    install(root, ApiSlot(ctx))
    return root


class NodeParts(Protocol):
    """What :func:`mount_api` takes from the daemon's running node (``docnode.app.Node``)."""

    settings: Settings
    clock: Clock
    offloader: Offloader
    store: Store
    service: NodeService
    signer: PacketSigner
    verification: VerificationContext
    dispatcher: Dispatcher


def upload_limits(limits: Limits) -> UploadLimits:
    return UploadLimits(max_files=limits.max_attachments,
                        max_file_bytes=limits.max_attachment_bytes,
                        max_total_bytes=limits.max_packet_bytes)


def mount_api(app: web.Application, node_of: Callable[[], NodeParts]) -> None:
    """Serve the API, the page and the webhook relay on the daemon's ``api`` app: the routes
    now, the context and the relay once the node's parts exist (a ``cleanup_ctx`` that runs
    after the daemon's own, so it starts after the workers and stops before them)."""
    slot = ApiSlot()
    install(app, slot)

    async def api_ctx(_app: web.Application) -> AsyncIterator[None]:
        node = node_of()
        limits = node.settings.limits.to_limits()
        relay = WebhookRelay(node.store, clock=node.clock, on_queued=node.dispatcher.wake)
        trust = node.verification.trust
        slot.ctx = ApiContext(
            service=node.service, store=node.store, clock=node.clock,
            changes=ChangeService(node.service, clock=node.clock, offloader=node.offloader,
                                  limits=limits),
            certificates=lambda: [node.signer.identity.certificate, *node.signer.identity.chain,
                                  *trust.anchors, *trust.intermediates],
            upload=upload_limits(limits), limits=limits, wake_webhooks=relay.wake)
        relay.start()
        try:
            yield
        finally:
            await relay.stop()
            slot.ctx = None

    app.cleanup_ctx.append(api_ctx)
