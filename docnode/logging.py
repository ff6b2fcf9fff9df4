"""Structured logs: one event per line, context bound per task (structlog's contextvars idea).

Rules:
1. A log line is an *event* name plus fields; ``document_id``, ``peer`` and ``organ_id`` bound
   with :func:`bind` travel with every line the current task (and the tasks it starts) writes.
2. ``json`` format: one JSON object per line (machines); ``console``: ``time level event k=v``
   (people). Chosen once, by :func:`configure_logging`; this module is the only global state.
3. Never log secrets: fields whose name looks like a secret are replaced by ``"[redacted]"``
   before formatting, whatever the caller passed.
4. Security events (``security=True``) are WARNING lines with ``"security": true`` so that an
   operator can alert on them.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

LogFormat = Literal["json", "console"]

_CONTEXT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "docnode_log_context", default=MappingProxyType({})
)
_SECRET_MARKERS = ("passphrase", "password", "secret", "token", "private_key", "hmac",
                   "authorization", "cookie")
_ROOT = "docnode"


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


def _clean(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("[redacted]" if _is_secret(k) else v) for k, v in fields.items()}


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Bind fields to every event logged in this context (rule 1)."""
    token = _CONTEXT.set({**_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bound() -> dict[str, Any]:
    """The fields bound in the current context."""
    return dict(_CONTEXT.get())


class EventLogger:
    """A thin typed front over a stdlib logger that writes events with fields."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(f"{_ROOT}.{name}" if name != _ROOT else _ROOT)

    def _log(self, level: int, event: str, fields: dict[str, Any]) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, event, extra={"docnode_fields": fields})

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        if self._logger.isEnabledFor(logging.ERROR):
            self._logger.error(event, exc_info=True, extra={"docnode_fields": fields})

    def security(self, event: str, **fields: Any) -> None:
        """A security event (rule 4)."""
        self._log(logging.WARNING, event, {**fields, "security": True})


def get_logger(name: str) -> EventLogger:
    return EventLogger(name)


def event_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Everything an event carries: bound context, then the call's own fields (redacted)."""
    fields: dict[str, Any] = {}
    ctx = getattr(record, "docnode_context", None)
    if isinstance(ctx, Mapping):
        fields.update(ctx)
    own = getattr(record, "docnode_fields", None)
    if isinstance(own, Mapping):
        fields.update(own)
    return _clean(fields)


class _ContextFilter(logging.Filter):
    """Copies the bound context onto the record at the moment of logging (same task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.docnode_context = dict(_CONTEXT.get())
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(event_fields(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        kv = " ".join(f"{k}={v}" for k, v in event_fields(record).items())
        text = f"{ts} {record.levelname:<7} {record.getMessage()}" + (f" {kv}" if kv else "")
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(
    *, fmt: LogFormat = "json", level: str | int = "INFO", stream: Any = None
) -> None:
    """Install the one handler on the ``docnode`` logger (rule 2); idempotent."""
    root = logging.getLogger(_ROOT)
    for handler in list(root.handlers):
        if getattr(handler, "_docnode", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    handler.addFilter(_ContextFilter())
    handler._docnode = True  # type: ignore[attr-defined]  # marks our handler for idempotence
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
