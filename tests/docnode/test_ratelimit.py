"""Token buckets of the direct listener (docnode.ratelimit) on an injected monotonic clock:
no sleeping, no timing assertions."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from docnode.ratelimit import RateLimiter, RateLimits, install_rate_limits, vxp_system_key
from docnode.transport.vxp_server import _rate_refusal


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_rate_per_peer() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimits(peer_rate_per_s=2.0, peer_burst=3), clock=clock)
    assert [limiter.try_acquire("p") for _ in range(3)] == [None, None, None]
    wait = limiter.try_acquire("p")
    assert wait == pytest.approx(0.5)
    assert limiter.try_acquire("q") is None  # another peer has its own bucket
    clock.now += 0.5
    assert limiter.try_acquire("p") is None
    assert limiter.try_acquire("p") == pytest.approx(0.5)


def test_system_bucket_limits_all_peers_together() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimits(peer_burst=10, system_rate_per_s=1.0, system_burst=2),
                          clock=clock)
    assert limiter.try_acquire("a") is None
    assert limiter.try_acquire("b") is None
    assert limiter.try_acquire("c") == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.try_acquire("c") is None


def test_idle_peers_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimits(idle_s=60.0), clock=clock)
    for i in range(100):
        limiter.try_acquire(f"peer-{i}")
    assert limiter.tracked_peers == 100
    clock.now += 61.0
    limiter.try_acquire("new")
    assert limiter.tracked_peers == 1


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimits(peer_rate_per_s=0)
    with pytest.raises(ValueError, match="positive"):
        RateLimits(system_burst=0)


async def test_middleware_answers_429_problem_with_retry_after() -> None:
    clock = Clock()

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/edxml/v1/messages", ok)
    install_rate_limits(app, RateLimits(peer_rate_per_s=0.25, peer_burst=1), clock=clock)
    async with TestClient(TestServer(app)) as client:
        first = await client.post("/edxml/v1/messages", data=b"x")
        assert first.status == 200
        second = await client.post("/edxml/v1/messages", data=b"x")
        assert second.status == 429
        assert second.headers["Retry-After"] == "4"
        assert second.content_type == "application/problem+json"
        body = json.loads(await second.read())
        assert (body["code"], body["retryable"], body["retry_after_s"]) == (
            "rate_limited", True, 4)
        clock.now += 4.0
        assert (await client.post("/edxml/v1/messages", data=b"x")).status == 200


async def test_axis_limits_each_client_system_and_answers_in_vxp_shape() -> None:
    """On the VXP axis the bucket is per claimed system id (and address), and a refusal is
    the JSON the SDK parses (status FAIL, ErrorCode, DocId on sendEdoc) with 429."""
    clock = Clock()

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/sendEdoc", ok)
    install_rate_limits(app, RateLimits(peer_rate_per_s=0.5, peer_burst=1), clock=clock,
                        key=vxp_system_key, refusal=_rate_refusal)
    one, two = {"XroadVnpt-systemid": "vxp.a"}, {"XroadVnpt-systemid": "vxp.b"}
    async with TestClient(TestServer(app)) as client:
        assert (await client.post("/sendEdoc", data=b"x", headers=one)).status == 200
        refused = await client.post("/sendEdoc", data=b"x", headers=one)
        assert refused.status == 429
        assert refused.headers["Retry-After"] == "2"
        body = json.loads(await refused.read())
        assert (body["status"], body["ErrorCode"], body["DocId"]) == ("FAIL", "rate_limited", "")
        assert None not in body.values()
        # another client system has its own bucket
        assert (await client.post("/sendEdoc", data=b"x", headers=two)).status == 200
