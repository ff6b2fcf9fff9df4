"""Structured logs: one JSON object per line, context bound per task, secrets redacted."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from docnode.logging import bind, configure_logging, get_logger


@pytest.fixture(autouse=True)
def _restore_docnode_logger() -> Iterator[None]:
    """configure_logging changes the process-wide ``docnode`` logger: put it back."""
    logger = logging.getLogger("docnode")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_bound_context_and_never_secrets() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", level="DEBUG", stream=stream)
    log = get_logger("test")
    with bind(document_id="D1", peer="127.0.0.1"):
        log.info("received", organ_id="000.00.00.G22", passphrase="hunter2",
                 axis_secret="s3cr3t", token="t0k3n")
        log.security("duplicate_conflict")
    log.info("outside")
    first, second, third = _lines(stream)
    assert first["event"] == "received" and first["document_id"] == "D1"
    assert first["peer"] == "127.0.0.1" and first["organ_id"] == "000.00.00.G22"
    assert first["passphrase"] == first["axis_secret"] == first["token"] == "[redacted]"
    assert "hunter2" not in stream.getvalue() and "s3cr3t" not in stream.getvalue()
    assert second["security"] is True and second["level"] == "warning"
    assert "document_id" not in third


async def test_context_is_per_task() -> None:
    stream = io.StringIO()
    configure_logging(fmt="json", level="INFO", stream=stream)
    log = get_logger("test")

    async def work(doc: str) -> None:
        with bind(document_id=doc):
            await asyncio.sleep(0.01)
            log.info("step")

    await asyncio.gather(work("A"), work("B"))
    assert sorted(str(line["document_id"]) for line in _lines(stream)) == ["A", "B"]


def test_console_format_is_one_readable_line() -> None:
    stream = io.StringIO()
    configure_logging(fmt="console", level="INFO", stream=stream)
    with bind(document_id="D9"):
        get_logger("test").warning("retry", attempts=2)
    (line,) = stream.getvalue().splitlines()
    assert "retry" in line and "document_id=D9" in line and "attempts=2" in line
