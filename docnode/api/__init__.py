"""The clerk REST API (OpenAPI 3.1 at ``/api/openapi.json``), its bearer tokens, the webhooks
to the agency's DMS and the clerks' web page (DESIGN §3 ``api/``).

Public surface: :func:`mount_api` (the daemon mounts everything on its ``api`` app),
:func:`api_app` (a stand-alone app over an :class:`ApiContext`, for tests and tools),
:func:`with_webhooks` (routes ``webhook`` queue items to the webhook sender).

Imports are lazy: ``docnode.api.tables`` is imported by the migrations' schema check
(``docnode.store.migrate.all_metadata``), which must not pull in the whole daemon.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docnode.api.app import api_app, install, mount_api
    from docnode.api.context import ApiContext, ApiSlot, UploadLimits
    from docnode.api.webhook_delivery import with_webhooks

_WHERE = {
    "api_app": "docnode.api.app", "install": "docnode.api.app", "mount_api": "docnode.api.app",
    "ApiContext": "docnode.api.context", "ApiSlot": "docnode.api.context",
    "UploadLimits": "docnode.api.context", "with_webhooks": "docnode.api.webhook_delivery",
}

__all__ = ["ApiContext", "ApiSlot", "UploadLimits", "api_app", "install", "mount_api",
           "with_webhooks"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'docnode.api' has no attribute {name!r}")
