"""Choosing and running a process's queue backend (``[queue] backend``, DESIGN §6, issue 8).

Rules:
1. ``sql``: the :class:`~docnode.queue.sql.SqlQueue` alone; nothing to start or stop.
2. ``amqp``: an :class:`~docnode.queue.amqp.AmqpQueue` over the same ``outbox`` table, an
   :class:`~docnode.queue.amqp_link.AmqpLink` to the broker and an
   :class:`~docnode.queue.relay.OutboxRelay`. Every process that runs (listeners or workers)
   relays, since every process commits outbox rows; only dispatching processes consume
   (``consume=True``). A one-shot command (``docnode send``) builds the runtime but never
   starts it: what it commits is published by a running node's relay (rows stay
   unpublished until then, relay rule 1).
3. Building never touches the network; :meth:`QueueRuntime.start` connects in the background
   (a broker that is down delays nothing: the node starts, reports not-ready, reconnects).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from docnode.clock import Clock
from docnode.config import QueueBackend, Settings
from docnode.health import HealthResult
from docnode.queue.amqp import AmqpQueue
from docnode.queue.amqp_link import AmqpLink, Topology
from docnode.queue.model import RetryPolicy
from docnode.queue.relay import OutboxRelay
from docnode.queue.sql import SqlQueue
from docnode.store import Store


@dataclass
class QueueRuntime:
    """The queue of one process and what keeps it running."""

    queue: SqlQueue | AmqpQueue
    link: AmqpLink | None = None
    relay: OutboxRelay | None = None

    @property
    def backend(self) -> QueueBackend:
        return QueueBackend.SQL if self.link is None else QueueBackend.AMQP

    def wire(self, wake_dispatcher: Callable[[], None]) -> Callable[[], None]:
        """Connect the dispatcher's ``wake``; returns what a local commit that queued work
        must call (``NodeService.set_on_queued``): the dispatcher for ``sql``, the relay
        for ``amqp`` (its publication wakes the consumers, here and elsewhere)."""
        if isinstance(self.queue, AmqpQueue) and self.relay is not None:
            self.queue.set_on_message(wake_dispatcher)
            self.queue.set_on_outcome(self.relay.wake)
            return self.relay.wake
        return wake_dispatcher

    def start(self) -> None:
        if self.link is not None:
            self.link.start()
        if self.relay is not None:
            self.relay.start()

    async def close(self) -> None:
        if self.relay is not None:
            await self.relay.stop()
        if self.link is not None:
            await self.link.close()

    async def health(self) -> HealthResult:
        """``/readyz``: the broker connection (``sql``: the store check covers the queue)."""
        if self.link is None:
            return HealthResult("broker", True, "sql queue (in the store)")
        if self.link.ready:
            return HealthResult("broker", True, f"{self.link.location} connected")
        return HealthResult("broker", False, f"{self.link.location} not connected "
                                             "(reconnecting)")


def open_queue(settings: Settings, store: Store, *, clock: Clock,
               consume: bool) -> QueueRuntime:
    """The runtime for ``[queue]`` (rules above); nothing is started."""
    policy = RetryPolicy.from_settings(settings.delivery)
    q = settings.queue
    if q.backend is QueueBackend.SQL or q.amqp_url is None:
        return QueueRuntime(SqlQueue(store, policy=policy))
    queue = AmqpQueue(store, policy=policy, republish_after_s=q.republish_after_s)
    prefetch = q.prefetch or 2 * settings.delivery.workers
    link = AmqpLink(q.amqp_url, Topology(q.amqp_prefix), prefetch=prefetch,
                    deliver=queue.deliver if consume else None)
    queue.attach(link)
    relay = OutboxRelay(store, link, clock=clock, republish_after_s=q.republish_after_s)
    # A reconnection may follow an outage during which commits could not be published.
    link.set_on_ready(relay.wake)
    return QueueRuntime(queue, link, relay)
