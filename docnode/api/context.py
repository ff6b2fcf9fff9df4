"""What the API's handlers share, held under one typed ``AppKey`` (STYLE §6).

The composition (``docnode.app``, or a test) builds one :class:`ApiContext` and passes it to
:func:`docnode.api.app.api_app`; handlers read it with :func:`context_of`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiohttp import web
from cryptography import x509

from docnode.changes import ChangeService
from docnode.clock import Clock
from docnode.errors import StoreUnavailable
from docnode.service import NodeService
from docnode.store import Store
from envelopes.limits import DEFAULT_LIMITS, Limits


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Bounds on a multipart submission (checked while reading, before anything is kept)."""

    max_files: int = DEFAULT_LIMITS.max_attachments
    max_file_bytes: int = DEFAULT_LIMITS.max_attachment_bytes
    max_metadata_bytes: int = 1 << 20
    max_total_bytes: int = DEFAULT_LIMITS.max_packet_bytes


@dataclass(frozen=True, slots=True)
class ApiContext:
    service: NodeService
    """The use cases (submit, change status, …)."""
    changes: ChangeService
    """Revocation, update, replacement, take-back, answers 15/16."""
    store: Store
    clock: Clock
    certificates: Callable[[], Sequence[x509.Certificate]] = field(default=lambda: ())
    """Certificates whose expiry the page warns about (own signing chain + trust anchors)."""
    upload: UploadLimits = UploadLimits()
    limits: Limits = DEFAULT_LIMITS
    """Decoding limits for stored packets (attachments listing and download)."""
    wake_webhooks: Callable[[], None] = field(default=lambda: None)
    """Tell the webhook relay that new events may be waiting."""


class ApiSlot:
    """Where the handlers find the context. The daemon builds its parts in a
    ``cleanup_ctx`` (after the apps are frozen), so the context is filled in then, and
    emptied again at shutdown."""

    def __init__(self, ctx: ApiContext | None = None) -> None:
        self.ctx = ctx


API_CONTEXT: web.AppKey[ApiSlot] = web.AppKey("docnode_api_context", ApiSlot)


def context_of(request: web.Request) -> ApiContext:
    ctx = request.config_dict[API_CONTEXT].ctx
    if ctx is None:
        raise StoreUnavailable("the node is starting or stopping")
    return ctx
