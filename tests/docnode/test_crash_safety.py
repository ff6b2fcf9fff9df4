"""Crash safety with kill -9 (real subprocesses): the sender killed while it dispatches, the
receiver killed while it receives. After restarts every accepted document is delivered, and
exactly once into the receiver's inbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docnode.nodes_kit import A_ORGAN, inbox, make_net, opened, states, submit, wait_for

pytestmark = pytest.mark.slow
N = 40


async def _check_exactly_once(a, b, ids: list[str]) -> None:  # type: ignore[no-untyped-def]
    async def all_delivered() -> bool:
        return set(await states(a, ids)) == {"delivered"}

    await wait_for("every document delivered", all_delivered, timeout=120)
    rows = await inbox(b)
    assert len(rows) == N
    assert len({r["edxml_document_id"] for r in rows}) == N
    assert {r["from"] for r in rows} == {A_ORGAN}


async def test_sender_killed_while_dispatching(tmp_path: Path) -> None:
    net = make_net(tmp_path, lease_s=6.0, workers=2, max_attempts=10_000)
    a, b = net["A"], net["B"]
    with net.running():
        async with opened(a) as a_parts, opened(b) as b_parts:
            ids = await submit(a_parts, n=N, tag="KILLA")

            async def some_delivered() -> bool:
                return "delivered" in await states(a_parts, ids)

            await wait_for("the first deliveries", some_delivered)
            a.kill()
            assert set(await states(a_parts, ids)) != {"delivered"}
            a.start()
            await _check_exactly_once(a_parts, b_parts, ids)


async def test_receiver_killed_while_receiving(tmp_path: Path) -> None:
    net = make_net(tmp_path, lease_s=6.0, workers=4, max_attempts=10_000)
    a, b = net["A"], net["B"]
    with net.running():
        async with opened(a) as a_parts, opened(b) as b_parts:
            ids = await submit(a_parts, n=N, tag="KILLB")

            async def some_received() -> bool:
                return len(await inbox(b_parts)) > 0

            await wait_for("the first receptions", some_received)
            b.kill()
            b.start()
            await _check_exactly_once(a_parts, b_parts, ids)
