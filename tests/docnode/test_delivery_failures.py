"""Delivery failures with a real sender node: the receiver is down, answers 500s, answers
422, or keeps failing until the attempts are used up. The misbehaving peers are small real
aiohttp servers in the test process; the sender is a ``docnode run`` subprocess."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from docnode.transport.direct_server import MESSAGES_PATH
from docnode.transport.problem import PROBLEM_CONTENT_TYPE
from tests.docnode.nodes_kit import B_ORGAN, make_net, opened, submit, timeline, wait_for

pytestmark = pytest.mark.slow


class Peer:
    """Answers ``failures`` times with ``status`` (problem+json), then forwards to ``target``
    (the real receiving node) when one is given."""

    def __init__(self, status: int, code: str, failures: int, target: str | None) -> None:
        self.status, self.code, self.failures, self.target = status, code, failures, target
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests += 1
        if self.requests <= self.failures or self.target is None:
            return web.Response(
                status=self.status, content_type=PROBLEM_CONTENT_TYPE,
                body=json.dumps({"type": f"urn:docnode:problem:{self.code}", "title": "t",
                                 "status": self.status, "code": self.code}).encode())
        async with aiohttp.ClientSession() as s, s.post(
            self.target + MESSAGES_PATH, data=body,
            headers={"Content-Type": "application/xml"},
        ) as resp:
            return web.Response(status=resp.status, body=await resp.read(),
                                content_type=resp.content_type)


@asynccontextmanager
async def serve(peer: Peer) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post(MESSAGES_PATH, peer.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def _route_b_to(net, url: str) -> None:  # type: ignore[no-untyped-def]
    a = net["A"]
    a.cli("peers", "add", "-c", str(a.config), "--organ-id", B_ORGAN, "--url", url)


async def test_receiver_down_then_back(tmp_path: Path) -> None:
    # Enough attempts for however long B takes to start on a busy machine.
    net = make_net(tmp_path, max_attempts=10_000)
    a, b = net["A"], net["B"]
    try:
        a.start()
        async with opened(a) as parts:
            (doc,) = await submit(parts, tag="DOWN")

            async def retried() -> bool:
                t = await timeline(parts, doc)
                return any(e["kind"] == "retry_scheduled" for e in t["recipients"][0]["timeline"])

            await wait_for("a retry while B is down", retried)
            b.start()

            async def delivered() -> bool:
                return (await timeline(parts, doc))["recipients"][0]["state"] == "delivered"

            await wait_for("delivery after B is back", delivered)
            t = await timeline(parts, doc)
            errors = [e["evidence"]["detail"].get("peer_code")
                      for e in t["recipients"][0]["timeline"] if e["kind"] == "retry_scheduled"]
            assert errors and set(errors) == {"connection_error"}
    finally:
        net.stop()


async def test_500s_are_retried_until_the_peer_recovers(tmp_path: Path) -> None:
    net = make_net(tmp_path)
    peer = Peer(500, "internal_error", failures=3, target=net["B"].direct_url)
    async with serve(peer) as url:
        _route_b_to(net, url)
        with net.running():
            async with opened(net["A"]) as parts:
                (doc,) = await submit(parts, tag="FIVE")

                async def delivered() -> bool:
                    return (await timeline(parts, doc))["recipients"][0]["state"] == "delivered"

                await wait_for("delivery through the flaky peer", delivered)
                r = (await timeline(parts, doc))["recipients"][0]
    retries = [e for e in r["timeline"] if e["kind"] == "retry_scheduled"]
    assert len(retries) == 3
    assert {e["evidence"]["detail"]["http_status"] for e in retries} == {500}
    assert r["attempts"] == 4 and r["receipt_sha256"]
    assert peer.requests == 4


async def test_422_fails_for_good_without_retry(tmp_path: Path) -> None:
    net = make_net(tmp_path)
    peer = Peer(422, "schema_invalid", failures=10**6, target=None)
    async with serve(peer) as url:
        _route_b_to(net, url)
        a = net["A"]
        a.start()
        try:
            async with opened(a) as parts:
                (doc,) = await submit(parts, tag="FAIL")

                async def failed() -> dict[str, object] | None:
                    r = (await timeline(parts, doc))["recipients"][0]
                    return r if r["state"] == "failed" else None

                r = await wait_for("a permanent failure", failed)
        finally:
            a.stop()
    assert r["last_error"] == "schema_invalid" and r["attempts"] == 1
    kinds = [e["kind"] for e in r["timeline"]]  # type: ignore[index]
    assert kinds == ["queued", "failed"]
    assert peer.requests == 1


async def test_max_attempts_dead_letters(tmp_path: Path) -> None:
    net = make_net(tmp_path, max_attempts=3)
    peer = Peer(503, "revocation_unknown", failures=10**6, target=None)
    async with serve(peer) as url:
        _route_b_to(net, url)
        a = net["A"]
        a.start()
        try:
            async with opened(a) as parts:
                (doc,) = await submit(parts, tag="DEAD")

                async def dead() -> dict[str, object] | None:
                    r = (await timeline(parts, doc))["recipients"][0]
                    return r if r["state"] == "dead_lettered" else None

                r = await wait_for("a dead letter", dead)
        finally:
            a.stop()
    kinds = [e["kind"] for e in r["timeline"]]  # type: ignore[index]
    assert kinds == ["queued", "retry_scheduled", "retry_scheduled", "dead_lettered"]
    assert r["attempts"] == 3 and peer.requests == 3
