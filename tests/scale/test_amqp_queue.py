"""The ``amqp`` queue backend against a real RabbitMQ and both store backends (issue 8):
the outbox relay publishes every committed item (also after a crash before publishing),
consumers claim through the store's leases, acknowledge only after the outcome, skip ids
that are done, and retries come back through the delay queues."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aio_pika
import pytest

from docnode.clock import SYSTEM_CLOCK
from docnode.queue import QueueItem
from docnode.queue.amqp import RELAY_OWNER, AmqpQueue
from docnode.queue.amqp_link import AmqpLink, Topology
from docnode.queue.relay import OutboxRelay
from docnode.store import OutboxItem, OutboxState, Store, WorkKind
from tests.servers import AmqpTarget


@asynccontextmanager
async def consumer(store: Store, amqp: AmqpTarget, *,
                   prefetch: int = 50) -> AsyncIterator[tuple[AmqpQueue, OutboxRelay]]:
    queue = AmqpQueue(store)
    link = AmqpLink(amqp.url, Topology(amqp.prefix), prefetch=prefetch, deliver=queue.deliver)
    queue.attach(link)
    relay = OutboxRelay(store, link, clock=SYSTEM_CLOCK)
    queue.set_on_outcome(relay.wake)
    link.start()
    assert await link.wait_ready(10)
    try:
        yield queue, relay
    finally:
        await relay.stop()
        await link.close()


@pytest.fixture
async def store(store_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(store_url, tmp_path / "blobs")
    yield s
    await s.close()


async def enqueue(store: Store, n: int, *, tag: str = "r") -> list[int]:
    now = SYSTEM_CLOCK.now()
    async with store.transaction() as tx:
        return [(await tx.enqueue(WorkKind.WEBHOOK, f"{tag}-{i}", now=now)).id
                for i in range(n)]


async def claim_all(queue: AmqpQueue, n: int, *, worker: str = "w",
                    lease_s: float = 30, timeout: float = 20) -> list[QueueItem]:
    got: list[QueueItem] = []
    async with asyncio.timeout(timeout):
        while len(got) < n:
            got += await queue.claim(worker, limit=n, lease_s=lease_s, now=SYSTEM_CLOCK.now())
            await asyncio.sleep(0.02)
    return got


async def complete(store: Store, queue: AmqpQueue, items: Sequence[QueueItem]) -> None:
    async with store.transaction() as tx:
        for item in items:
            await queue.complete(item, tx=tx)


async def rows(store: Store) -> list[OutboxItem]:
    async with store.reader() as tx:
        from sqlmodel import select

        return list((await tx.session.execute(select(OutboxItem))).scalars().all())


async def depth(amqp: AmqpTarget, name: str) -> int:
    connection = await aio_pika.connect(amqp.url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(name, passive=True)
        return int(queue.declaration_result.message_count or 0)
    finally:
        await connection.close()


async def test_committed_items_are_published_claimed_and_acked_after_the_outcome(
        store: Store, amqp: AmqpTarget) -> None:
    ids = await enqueue(store, 30)
    async with consumer(store, amqp) as (queue, relay):
        assert await relay.sweep() == 30
        assert {r.lease_owner for r in await rows(store)} == {RELAY_OWNER}
        items = await claim_all(queue, 30)
        assert sorted(i.id for i in items) == ids
        assert {i.attempts for i in items} == {1}
        await complete(store, queue, items)
        assert await rows(store) == []
        assert await relay.sweep() == 0  # nothing left to publish
    assert await depth(amqp, Topology(amqp.prefix).work) == 0  # every message acked


async def test_a_crash_between_commit_and_publish_is_published_on_recovery(
        store: Store, amqp: AmqpTarget) -> None:
    # Committed while no relay ran (the process died after the commit): unpublished rows.
    ids = await enqueue(store, 5)
    assert {r.lease_owner for r in await rows(store)} == {None}
    async with consumer(store, amqp) as (queue, relay):
        relay.start()  # the sweep at start recovers them
        items = await claim_all(queue, 5)
        assert sorted(i.id for i in items) == ids


async def test_redelivered_and_duplicate_ids_of_done_items_are_acked_and_skipped(
        store: Store, amqp: AmqpTarget) -> None:
    [item_id] = await enqueue(store, 1)
    async with consumer(store, amqp) as (queue, relay):
        await relay.sweep()
        [item] = await claim_all(queue, 1)
        await complete(store, queue, [item])
        assert queue.link is not None
        for _ in range(3):  # copies of a done item (a relay crash after confirm, say)
            await queue.link.publish("work", str(item_id).encode(), message_id="dup")
        async with asyncio.timeout(10):
            while await depth(amqp, Topology(amqp.prefix).work) or queue.buffered:
                assert await queue.claim("w", limit=5, lease_s=30,
                                         now=SYSTEM_CLOCK.now()) == []
                await asyncio.sleep(0.05)


async def test_a_retry_comes_back_through_the_delay_queue(store: Store,
                                                          amqp: AmqpTarget) -> None:
    await enqueue(store, 1)
    async with consumer(store, amqp) as (queue, relay):
        relay.start()
        [item] = await claim_all(queue, 1)
        async with store.transaction() as tx:
            await queue.retry(item, tx=tx, error="peer_unavailable",
                              now=SYSTEM_CLOCK.now(), delay_s=0.6)
        [row] = await rows(store)
        assert row.state == OutboxState.READY
        [again] = await claim_all(queue, 1)
        assert (again.id, again.attempts, again.last_error) == (item.id, 2,
                                                                "peer_unavailable")
        assert again.lease_token == item.lease_token + 1


async def test_a_worker_that_dies_holding_an_item_hands_it_over(store: Store,
                                                                amqp: AmqpTarget) -> None:
    [item_id] = await enqueue(store, 1)
    async with AsyncExitStack() as doomed_stack:
        doomed, relay = await doomed_stack.enter_async_context(consumer(store, amqp))
        await relay.sweep()
        [held] = await claim_all(doomed, 1, worker="doomed", lease_s=1.0)
        assert held.lease_owner == "doomed"
        (survivor, _), survivor_stack = await stack_consumer(store, amqp)
        try:
            # ``doomed`` goes away without an outcome (its connection closes).
            await doomed_stack.aclose()
            # The broker redelivers the id; the survivor defers it until the dead worker's
            # lease expires, then takes it.
            [item] = await claim_all(survivor, 1, worker="survivor")
            assert (item.id, item.attempts, item.lease_owner) == (item_id, 2, "survivor")
        finally:
            await survivor_stack.aclose()


async def stack_consumer(store: Store, amqp: AmqpTarget
                         ) -> tuple[tuple[AmqpQueue, OutboxRelay], AsyncExitStack]:
    stack = AsyncExitStack()
    parts = await stack.enter_async_context(consumer(store, amqp))
    return parts, stack


async def test_an_attempt_without_an_outcome_is_taken_again_after_its_lease(
        store: Store, amqp: AmqpTarget) -> None:
    [item_id] = await enqueue(store, 1)
    async with consumer(store, amqp) as (queue, relay):
        await relay.sweep()
        [first] = await claim_all(queue, 1, lease_s=0.5)
        # The outcome is never recorded (the store went away mid-commit, say): no ack. Once
        # the lease expired the message goes back to the broker and the item comes again.
        [again] = await claim_all(queue, 1)
        assert (again.id, again.attempts) == (item_id, first.attempts + 1)
        await complete(store, queue, [again])
    assert await depth(amqp, Topology(amqp.prefix).work) == 0
