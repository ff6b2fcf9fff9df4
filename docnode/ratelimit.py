"""Rate limits of the direct listener and the VXP axis server: per peer (per client system
on the axis) and for the whole listener (DESIGN §8, issue 9).

Rules:
1. Token buckets: each peer has ``burst`` tokens refilled at ``rate`` per second; one request
   takes one token from the peer's bucket AND one from the system bucket. No token: the
   request is refused with ``429 rate_limited`` (problem+json, retryable) and a
   ``Retry-After`` header giving the whole seconds until a token is back, before the body is
   read.
2. A peer is its verified TLS client certificate subject when the listener asks for one,
   else its remote address; on the axis, the claimed client system id together with the
   address (:func:`vxp_system_key` — the HMAC is not checked yet, so the address keeps one
   client from draining another system's bucket by claiming its id). A peer's identity
   inside the packet is NOT used: the packet has not been verified when the limit applies,
   and verifying is the expensive part to protect.
3. Time comes from a monotonic clock passed in (tests use their own); buckets of peers idle
   for ``idle_s`` are dropped so that the table cannot grow without bound.
4. A refused request is logged (``rate_limited``, with the peer) at most once per second per
   peer, so that a flood does not become a log flood.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from docnode import errors
from docnode.logging import get_logger
from docnode.transport.problem import problem_response

log = get_logger("ratelimit")

MonotonicClock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RateLimits:
    peer_rate_per_s: float = 100.0
    peer_burst: int = 400
    system_rate_per_s: float = 500.0
    system_burst: int = 2000
    idle_s: float = 600.0
    """Drop a peer's bucket after this long without requests."""

    def __post_init__(self) -> None:
        if min(self.peer_rate_per_s, self.system_rate_per_s) <= 0 or min(
            self.peer_burst, self.system_burst
        ) < 1:
            raise ValueError("rates must be positive and bursts at least 1")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    last_logged: float = -math.inf

    def refill(self, now: float, rate: float, burst: int) -> None:
        self.tokens = min(float(burst), self.tokens + (now - self.updated) * rate)
        self.updated = now

    def wait_s(self, rate: float) -> float:
        """Seconds until one token is available."""
        return max(0.0, (1.0 - self.tokens) / rate)


class RateLimiter:
    """The buckets (rule 1); one per listener."""

    def __init__(self, limits: RateLimits, *, clock: MonotonicClock = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._peers: dict[str, _Bucket] = {}
        now = clock()
        self._system = _Bucket(float(limits.system_burst), now)
        self._swept = now

    def try_acquire(self, peer: str) -> float | None:
        """Take a token for ``peer``; None if granted, else the seconds to wait."""
        now = self._clock()
        lim = self.limits
        self._sweep(now)
        bucket = self._peers.get(peer)
        if bucket is None:
            bucket = self._peers[peer] = _Bucket(float(lim.peer_burst), now)
        bucket.refill(now, lim.peer_rate_per_s, lim.peer_burst)
        self._system.refill(now, lim.system_rate_per_s, lim.system_burst)
        if bucket.tokens < 1.0:
            return bucket.wait_s(lim.peer_rate_per_s)
        if self._system.tokens < 1.0:
            return self._system.wait_s(lim.system_rate_per_s)
        bucket.tokens -= 1.0
        self._system.tokens -= 1.0
        return None

    def should_log(self, peer: str) -> bool:
        """Rule 4."""
        bucket = self._peers.get(peer)
        now = self._clock()
        if bucket is None or now - bucket.last_logged < 1.0:
            return False
        bucket.last_logged = now
        return True

    def _sweep(self, now: float) -> None:
        if now - self._swept < self.limits.idle_s:
            return
        self._swept = now
        cutoff = now - self.limits.idle_s
        for key in [k for k, b in self._peers.items() if b.updated < cutoff]:
            del self._peers[key]

    @property
    def tracked_peers(self) -> int:
        return len(self._peers)


def peer_key(request: web.Request) -> str:
    """Rule 2: the TLS client subject, else the remote address."""
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    if isinstance(cert, dict) and cert.get("subject"):
        return "tls:" + ",".join(f"{k}={v}" for rdn in cert["subject"] for k, v in rdn)
    return "ip:" + (request.remote or "")


def vxp_system_key(request: web.Request) -> str:
    """Rule 2 on the axis: the claimed ``XroadVnpt-systemid`` and the remote address."""
    system = request.headers.get("XroadVnpt-systemid", "")[:64]
    return f"system:{system}|{peer_key(request)}"


Refusal = Callable[[web.Request, errors.RateLimited], web.Response]


def _problem_refusal(_request: web.Request, error: errors.RateLimited) -> web.Response:
    return problem_response(error)


def rate_limit_middleware(
    limiter: RateLimiter,
    *,
    key: Callable[[web.Request], str] = peer_key,
    refusal: Refusal = _problem_refusal,
) -> Middleware:
    """An aiohttp middleware applying :class:`RateLimiter` to every request (rule 1).
    ``refusal`` shapes the 429 body: problem+json by default, the VXP JSON on the axis."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = key(request)
        wait = limiter.try_acquire(peer)
        if wait is None:
            return await handler(request)
        retry_after = max(1, math.ceil(wait))
        if limiter.should_log(peer):
            log.warning("rate_limited", peer=peer, retry_after_s=retry_after)
        response = refusal(request, errors.RateLimited(
            f"too many requests; try again in {retry_after} s",
            detail={"retry_after_s": retry_after}))
        response.set_status(429)
        response.headers["Retry-After"] = str(retry_after)
        # The body is not read: close rather than drain it.
        response.force_close()
        return response

    return middleware


def install_rate_limits(
    app: web.Application,
    limits: RateLimits,
    *,
    clock: MonotonicClock = time.monotonic,
    key: Callable[[web.Request], str] = peer_key,
    refusal: Refusal = _problem_refusal,
) -> RateLimiter:
    """Put the rate limit in front of every handler of ``app`` (before it is started)."""
    limiter = RateLimiter(limits, clock=clock)
    app.middlewares.insert(0, rate_limit_middleware(limiter, key=key, refusal=refusal))
    return limiter
