"""Helpers for tests that run real nodes (``docnode run`` subprocesses on loopback): set up
a network, submit documents into a node's store the way ``docnode send`` does, read a node's
store and wait for conditions. Small factories, no fakes (STYLE §9)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text

from docnode.app import Node, open_node
from docnode.cli._documents import document_timeline, inbox_rows
from docnode.config import load_config
from docnode.localnet import FAST_DELIVERY, LocalNet, LocalNode
from docnode.metadata import FileInput, edoc_from_metadata
from tests.docnode import backends

A_ORGAN, B_ORGAN = "000.00.00.G22", "000.00.00.H41"
T = TypeVar("T")

PDF = b"%PDF-1.4\n% test attachment\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


def make_net(tmp: Path, **delivery: Any) -> LocalNet:
    net = LocalNet.create(tmp, [("A", A_ORGAN), ("B", B_ORGAN)],
                          delivery={**FAST_DELIVERY, **delivery})
    backends.apply(net)  # PostgreSQL + RabbitMQ for the pg-amqp run (tests/docnode/conftest.py)
    return net


@asynccontextmanager
async def opened(node: LocalNode) -> AsyncIterator[Node]:
    """The node's parts opened in THIS process (store, signer); its workers are not run."""
    async with open_node(load_config(node.config)) as parts:
        yield parts


async def submit(parts: Node, *, to: Sequence[str] = (B_ORGAN,), n: int = 1,
                 subject: str = "Thử nghiệm", files: Sequence[FileInput] | None = None,
                 tag: str = "T") -> list[str]:
    """Submit ``n`` documents; returns our document ids."""
    ids = []
    for i in range(n):
        edoc = edoc_from_metadata(
            {"to": list(to), "subject": f"{subject} {i}", "code": f"{i}/{tag}"},
            list(files) if files is not None else [FileInput(f"doc-{i}.pdf", PDF,
                                                             "application/pdf")],
            now=datetime.now(UTC), sender=parts.service.organization(),
        )
        ids.append((await parts.service.submit(edoc, actor="test")).document_id)
    return ids


async def wait_for(what: str, probe: Callable[[], Awaitable[T]], *,
                   timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last: {value!r})")
        await asyncio.sleep(0.25)


async def timeline(parts: Node, document_id: str) -> dict[str, Any]:
    return await document_timeline(parts.service, document_id)


async def inbox(parts: Node) -> list[dict[str, Any]]:
    return await inbox_rows(parts.service)


async def deliveries(parts: Node) -> dict[str, tuple[str, str | None]]:
    """document id -> (delivery state, latest status code), in ONE query: probes that run
    every few hundred milliseconds must not load the machine they measure."""
    async with parts.store.reader() as tx:
        rows = (await tx.session.execute(text(
            "SELECT document_id, state, status_code FROM deliveries"))).all()
    return {str(d): (str(s), None if c is None else str(c)) for d, s, c in rows}


async def states(parts: Node, document_ids: Sequence[str]) -> list[str]:
    found = await deliveries(parts)
    return [found[d][0] if d in found else "missing" for d in document_ids]
