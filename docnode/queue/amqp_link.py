"""The RabbitMQ side of the ``amqp`` queue backend: names, declarations and one supervised
connection (issue 8; rules of the backend in :mod:`docnode.queue.amqp`).

Rules:
1. Topology, all under one prefix (``[queue] amqp_prefix``), declared idempotently at every
   (re)connection: a durable direct exchange ``P``; the work queue ``P.work`` (quorum,
   routing key ``work``); the dead-letter queue ``P.dead`` (quorum, key ``dead``); delay
   queues ``P.delay.<ms>`` (quorum, declared on first use) whose fixed TTL dead-letters their
   messages back to ``work``, so a delayed retry needs no broker plugin. A message carries
   an outbox row id, never a payload.
2. Dead-lettering out of quorum queues is ``at-least-once`` (with ``x-overflow =
   reject-publish``, which that strategy needs): a delayed id is not lost in a broker restart.
   The work queue's ``x-delivery-limit`` parks a message that keeps crashing its consumer
   in ``P.dead`` (the store still holds the item; the relay's safety net republishes it).
3. Every publish waits for the broker's confirm (publisher confirms) and must be routable
   (``mandatory``); only then is it "published". Publishing without a connection raises
   ``QueueUnavailable`` at once rather than waiting.
4. One supervisor task owns the connection: it connects, declares, (optionally) consumes with
   a prefetch limit, and when the connection drops (or the broker cancels the consumer while
   the channel stays open) it marks itself not ready and reconnects
   with exponential backoff and jitter, for ever, until closed. Messages delivered on a dead
   connection cannot be acknowledged any more: each message is tagged with the connection's
   ``generation`` so that the consumer drops stale ones (the broker redelivers them).
5. The broker URL may hold credentials: it is never logged; log lines name host and port.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)

from docnode.errors import QueueUnavailable
from docnode.logging import get_logger

log = get_logger("queue.amqp")

WORK_KEY = "work"
DEAD_KEY = "dead"
DELAY_BUCKETS_MS: tuple[int, ...] = tuple(250 * 2 ** k for k in range(15))
"""Delay queue TTLs: 0.25 s doubling up to about 68 minutes. A delay is served by the largest
bucket not above it, the rest on the next round (the consumer defers again)."""
DELIVERY_LIMIT = 20
"""Deliveries of one message before the work queue parks it in ``P.dead`` (rule 2)."""


@dataclass(frozen=True, slots=True)
class Topology:
    """The names under one prefix (rule 1)."""

    prefix: str

    @property
    def exchange(self) -> str:
        return self.prefix

    @property
    def work(self) -> str:
        return f"{self.prefix}.work"

    @property
    def dead(self) -> str:
        return f"{self.prefix}.dead"

    def delay(self, ms: int) -> str:
        return f"{self.prefix}.delay.{ms}"

    def all_queues(self) -> tuple[str, ...]:
        return (self.work, self.dead, *(self.delay(ms) for ms in DELAY_BUCKETS_MS))


def delay_bucket(delay_s: float) -> int:
    """The delay queue (its TTL in ms) for a wait of ``delay_s`` seconds (see the buckets)."""
    wanted = max(0.0, delay_s) * 1000
    fitting = [ms for ms in DELAY_BUCKETS_MS if ms <= wanted]
    return fitting[-1] if fitting else DELAY_BUCKETS_MS[0]


def safe_location(url: str) -> str:
    """``host:port/vhost`` of a broker URL, without credentials (rule 5)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5672}{parts.path or '/'}"


_QUORUM: dict[str, Any] = {"x-queue-type": "quorum"}


def _dead_lettering(prefix: str, key: str) -> dict[str, Any]:
    return {"x-dead-letter-exchange": prefix, "x-dead-letter-routing-key": key,
            "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}


Deliver = Callable[[AbstractIncomingMessage, int], None]
"""Consumer hand-off: a message and the generation of the connection it came on."""


class AmqpLink:
    """One supervised connection with a confirming publish channel and, when ``deliver`` is
    given, a consuming channel (rules 3-4)."""

    def __init__(self, url: str, topology: Topology, *, prefetch: int,
                 deliver: Deliver | None = None, on_ready: Callable[[], None] | None = None,
                 backoff_initial_s: float = 0.25, backoff_max_s: float = 15.0,
                 connect_timeout_s: float = 10.0) -> None:
        self._url = url
        self.topology = topology
        self._prefetch = max(1, prefetch)
        self._deliver = deliver
        self._on_ready = on_ready
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._timeout = connect_timeout_s
        self._rng = random.Random()  # noqa: S311 - reconnect jitter, not a secret
        self._connection: AbstractConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._pub: AbstractChannel | None = None
        self._declared: set[str] = set()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.generation = 0
        """Bumped at every successful connection (rule 4)."""
        self.location = safe_location(url)

    def set_on_ready(self, callback: Callable[[], None]) -> None:
        """Called after every successful (re)connection (the relay's ``wake``)."""
        self._on_ready = callback

    @property
    def ready(self) -> bool:
        """Connected, declared and (if consuming) consuming."""
        return self._ready.is_set()

    async def wait_ready(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()
        return self.ready

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="docnode-amqp-link")

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._drop()

    async def publish(self, routing_key: str, body: bytes, *, message_id: str) -> None:
        """Publish and wait for the broker's confirm (rule 3). Raises ``QueueUnavailable``."""
        exchange = self._exchange
        if exchange is None or not self.ready:
            raise QueueUnavailable(f"the broker at {self.location} is not connected")
        message = aio_pika.Message(body, message_id=message_id, content_type="text/plain",
                                   delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        try:
            await exchange.publish(message, routing_key, mandatory=True,
                                   timeout=self._timeout)
        except (aio_pika.exceptions.AMQPError, OSError, RuntimeError,
                TimeoutError) as exc:
            raise QueueUnavailable(f"publish to {self.location} failed: "
                                   f"{type(exc).__name__}") from exc

    async def publish_delayed(self, body: bytes, *, delay_s: float, message_id: str) -> None:
        """Publish into the delay queue for ``delay_s`` (declared on first use)."""
        ms = delay_bucket(delay_s)
        await self._declare_delay(ms)
        await self.publish(f"delay.{ms}", body, message_id=message_id)

    # --- supervisor -------------------------------------------------------------------

    async def _supervise(self) -> None:
        failures = 0
        while not self._closing:
            lost = asyncio.Event()
            try:
                await self._connect(lost)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = self._delay(failures)
                log.warning("amqp_connect_failed", broker=self.location,
                            error=type(exc).__name__, retry_in_s=round(delay, 2))
                await self._drop()
                await asyncio.sleep(delay)
                continue
            failures = 0
            log.info("amqp_connected", broker=self.location, generation=self.generation)
            if self._on_ready is not None:
                self._on_ready()
            # A plain (not "robust") aio-pika connection reports a broker-side close only
            # through its close callbacks, on the connection and on each channel.
            await lost.wait()
            self._ready.clear()
            log.warning("amqp_connection_lost", broker=self.location)
            await self._drop()

    def _delay(self, failures: int) -> float:
        initial, cap = self._backoff
        ceiling = min(cap, initial * 2 ** min(failures - 1, 16))
        return float(ceiling / 2 + self._rng.uniform(0, ceiling / 2))

    async def _connect(self, lost: asyncio.Event) -> None:
        def on_close(*_args: Any) -> None:
            lost.set()

        connection = await aio_pika.connect(self._url, timeout=self._timeout)
        self._connection = connection
        connection.close_callbacks.add(on_close)
        pub = await connection.channel(publisher_confirms=True, on_return_raises=True)
        pub.close_callbacks.add(on_close)
        self._pub = pub
        self._declared = set()
        exchange = await pub.declare_exchange(self.topology.exchange,
                                              aio_pika.ExchangeType.DIRECT, durable=True)
        dead = await pub.declare_queue(self.topology.dead, durable=True, arguments=_QUORUM)
        await dead.bind(exchange, DEAD_KEY)
        work = await pub.declare_queue(self.topology.work, durable=True, arguments={
            **_QUORUM, **_dead_lettering(self.topology.prefix, DEAD_KEY),
            "x-delivery-limit": DELIVERY_LIMIT})
        await work.bind(exchange, WORK_KEY)
        self.generation += 1
        self._exchange = exchange
        if self._deliver is not None:
            consume = await connection.channel(publisher_confirms=False)
            consume.close_callbacks.add(on_close)
            await consume.set_qos(prefetch_count=self._prefetch)
            queue = await consume.get_queue(self.topology.work, ensure=False)
            generation, deliver = self.generation, self._deliver

            async def handoff(message: AbstractIncomingMessage) -> None:
                deliver(message, generation)

            def on_cancel(_frame: Any) -> None:
                # The broker cancelled our consumer (a quorum queue's leader moving, the
                # queue deleted and re-declared…) but left the channel open: nothing would
                # be delivered again. Treat it as a lost link: reconnect and consume anew.
                log.warning("amqp_consumer_cancelled", broker=self.location)
                lost.set()

            underlay = await consume.get_underlay_channel()
            underlay.on_consumer_cancel_callbacks.add(on_cancel)
            await queue.consume(handoff, no_ack=False)
        self._ready.set()

    async def _declare_delay(self, ms: int) -> None:
        name = self.topology.delay(ms)
        if name in self._declared:
            return
        if self._pub is None or self._exchange is None:
            raise QueueUnavailable(f"the broker at {self.location} is not connected")
        try:
            queue = await self._pub.declare_queue(name, durable=True, arguments={
                **_QUORUM, **_dead_lettering(self.topology.prefix, WORK_KEY),
                "x-message-ttl": ms})
            await queue.bind(self._exchange, f"delay.{ms}")
        except (aio_pika.exceptions.AMQPError, OSError, RuntimeError) as exc:
            raise QueueUnavailable(f"cannot declare {name}: {type(exc).__name__}") from exc
        self._declared.add(name)

    async def _drop(self) -> None:
        self._ready.clear()
        self._exchange = None
        self._pub = None
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed:
            with contextlib.suppress(Exception):
                await connection.close()
