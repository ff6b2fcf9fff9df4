"""Chaos through an axis: agency A → axis → agency B (real ``docnode run`` and ``docnode axis
serve`` processes), every node↔axis connection through a fault-injecting proxy, while A, B
or the axis is killed with SIGKILL at random. Afterwards every document is in B's inbox
exactly once, B's acceptance (03) of each is back at A, and nothing is left ``sending``.
Sized by ``DOCNODE_CHAOS_AXIS_N``."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from docnode import errors
from docnode.app import Node
from docnode.axis.network import AxisNet
from docnode.localnet import FAST_DELIVERY
from tests.docnode.nodes_kit import A_ORGAN, B_ORGAN, inbox, opened, submit, wait_for

from .proxy import ChaosProxy

pytestmark = pytest.mark.slow

N = int(os.environ.get("DOCNODE_CHAOS_AXIS_N", "100"))
SEED = int(os.environ.get("DOCNODE_CHAOS_SEED", "20261201")) + 7
KILLS = 4


@pytest.fixture
def proxies() -> Iterator[tuple[ChaosProxy, ChaosProxy]]:
    pa = ChaosProxy("127.0.0.1", 1, seed=SEED).start()
    pb = ChaosProxy("127.0.0.1", 1, seed=SEED + 1).start()
    try:
        yield pa, pb
    finally:
        pa.stop()
        pb.stop()


async def _scalar(parts: Node, sql: str) -> Any:
    async with parts.store.reader() as tx:
        return (await tx.session.execute(text(sql))).scalar_one()


async def test_chaos_through_the_axis(tmp_path: Path,
                                      proxies: tuple[ChaosProxy, ChaosProxy]) -> None:
    rng = random.Random(SEED)
    delivery = {**FAST_DELIVERY, "workers": 4, "lease_s": 5.0, "request_timeout_s": 3.0,
                "backoff_initial_s": 0.1, "backoff_max_s": 1.0, "max_attempts": 100_000,
                "max_age_s": 86_400.0}
    net = AxisNet.create(tmp_path, [("A", A_ORGAN), ("B", B_ORGAN)], poll_interval_s=0.3,
                         delivery=delivery)
    a, b, axis = net["A"], net["B"], net.axis
    host, port = axis.url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    for proxy, node in zip(proxies, (a, b), strict=True):
        proxy.set_upstream(host, int(port))
        node.update_config({"axis": {"url": axis.url.replace(f"{host}:{port}",
                                                              f"127.0.0.1:{proxy.port}")}})
    kills: list[str] = []
    with net.running():
        async with opened(a) as a_parts, opened(b) as b_parts:
            ids = await submit(a_parts, n=N, tag="AXISCHAOS")
            accepted: set[str] = set()
            stop = asyncio.Event()

            async def clerk() -> None:
                while not stop.is_set():
                    try:
                        for row in await inbox(b_parts):
                            if row["document_id"] not in accepted:
                                await b_parts.service.change_status(
                                    row["document_id"], "03", actor="clerk:chaos")
                                accepted.add(row["document_id"])
                    except errors.StoreUnavailable:
                        pass
                    await asyncio.sleep(0.2)

            async def killer() -> None:
                victims = [*rng.sample(["A", "B", "axis"], 3), rng.choice(["A", "B", "axis"])]
                for name in victims[:KILLS]:
                    await asyncio.sleep(rng.uniform(1.0, 3.0))
                    if stop.is_set():
                        return
                    victim = axis if name == "axis" else net[name]
                    victim.kill()
                    kills.append(name)
                    await asyncio.sleep(rng.uniform(0.2, 1.0))
                    await asyncio.to_thread(victim.start)

            tasks = [asyncio.create_task(clerk()), asyncio.create_task(killer())]
            try:
                async def all_accepted_at_a() -> bool:
                    delivered = await _scalar(
                        a_parts, "SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'")
                    back = await _scalar(
                        a_parts, "SELECT COUNT(DISTINCT response_for_document_id) FROM "
                                 "received_statuses WHERE status_code = '03'")
                    return bool(delivered == N and back == N)

                await wait_for(f"{N} documents through the axis and accepted",
                               all_accepted_at_a, timeout=600)
            finally:
                stop.set()
                for task in tasks:
                    await task

            rows = await inbox(b_parts)
            assert len(rows) == N
            assert len({r["edxml_document_id"] for r in rows}) == N
            for parts in (a_parts, b_parts):
                assert await _scalar(
                    parts, "SELECT COUNT(*) FROM deliveries WHERE state = 'sending'") == 0
                assert (await parts.store.verify_event_chain()).ok
            assert len(ids) == N
    assert len(set(kills)) >= 2
    faults = proxies[0].fates + proxies[1].fates
    for fate in ("delay", "drop", "truncate", "reset"):
        assert faults[fate] > 0, faults
