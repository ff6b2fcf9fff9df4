"""Crash the axis (SIGKILL) between receiving and forwarding: nothing lost, nothing duplicated.

A real ``docnode axis serve`` process on loopback with its SQLite store. Sender A pushes
packets concurrently while the axis is killed; after a restart A re-sends every packet (what a
sender does with answers it never got, and harmlessly with those it got). Every packet the
axis acknowledged keeps its DocId, recipient B finds each packet exactly once, and a packet B
fetched but had not acknowledged when the axis died is served again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import aiohttp
import pytest

from docnode import errors
from docnode.axis.network import LocalAxis
from docnode.cli.node import free_port
from docnode.transport.vxp_client import VxpClient
from docnode.transport.vxp_protocol import AckStatus
from tests.conftest import Pki
from tests.docnode.axis_kit import A_ORGAN, B_ORGAN, signed_edoc

pytestmark = pytest.mark.slow
PACKETS = 16


def _secret(path: Path, value: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return path


async def test_kill_between_receiving_and_forwarding(pki: Pki, tmp_path: Path) -> None:
    trust = pki.write_trust(tmp_path / "ca")
    axis = LocalAxis(tmp_path / "axis", f"127.0.0.1:{free_port()}", trust.anchor.parent)
    axis.register("sys.a", _secret(tmp_path / "a.secret", "secret-a"), [A_ORGAN])
    axis.register("sys.b", _secret(tmp_path / "b.secret", "secret-b"), [B_ORGAN])
    packets = [signed_edoc(pki) for _ in range(PACKETS)]
    axis.start()
    try:
        async with aiohttp.ClientSession() as session:
            a = VxpClient(session=session, endpoint=axis.url, system_id="sys.a",
                          secret=b"secret-a", timeout_s=10)
            b = VxpClient(session=session, endpoint=axis.url, system_id="sys.b",
                          secret=b"secret-b", timeout_s=10)
            acknowledged: dict[int, str] = {}

            async def push(i: int) -> None:
                await asyncio.sleep(0.01 * i)
                # no answer (PeerError): the sender keeps it queued
                with contextlib.suppress(errors.PeerError):
                    acknowledged[i] = await a.send_edoc(packets[i], from_=A_ORGAN)

            async def crash() -> None:
                while len(acknowledged) < PACKETS // 3:
                    await asyncio.sleep(0.005)
                await asyncio.to_thread(axis.kill)

            await asyncio.gather(crash(), *(push(i) for i in range(PACKETS)))
            assert 0 < len(acknowledged) < PACKETS
            axis.start()
            # the sender's retries: every packet again, with fresh timestamps
            doc_ids = [await a.send_edoc(p, from_=A_ORGAN) for p in packets]
            for i, doc_id in acknowledged.items():
                assert doc_ids[i] == doc_id
            assert len(set(doc_ids)) == PACKETS

            items = await b.get_received_edoc_list()
            assert len(items) == PACKETS
            first = items[0]
            assert await b.get_edoc(first.doc_id) in packets
            await asyncio.to_thread(axis.kill)  # fetched, not yet acknowledged
            axis.start()
            items = await b.get_received_edoc_list()
            assert len(items) == PACKETS and first.doc_id in {i.doc_id for i in items}
            fetched = [await b.get_edoc(i.doc_id) for i in items]
            assert sorted(fetched) == sorted(packets)
            for item in items:
                await b.update_status(item.doc_id, AckStatus.DONE)
            assert await b.get_received_edoc_list() == []
            sent = await a.get_sent_edoc_list()
            assert len(sent) == PACKETS and {s.receive_status for s in sent} == {"done"}
    finally:
        axis.stop()
