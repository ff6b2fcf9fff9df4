"""Dispatch: full-jitter backoff bounds, and the worker pool's lifecycle on a real store and
queue (claims, graceful stop releasing leases)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from docnode.clock import SYSTEM_CLOCK
from docnode.dispatch import Dispatcher, DispatchPolicy, backoff_delay
from docnode.errors import PeerRejected
from docnode.queue import QueueItem, RetryDecision, RetryPolicy, SqlQueue
from docnode.store import OutboxState, Store, WorkKind
from docnode.transport.direct_client import Delivery

POLICY = RetryPolicy(max_attempts=5, max_age_s=3600, backoff_initial_s=1.0, backoff_max_s=8.0)


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    rng = random.Random(7)
    for attempts, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        delays = [backoff_delay(POLICY, attempts, rng=rng, retry_after=None) for _ in range(500)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # Full jitter: the whole range is used, not only its upper half.
        assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9


def test_retry_after_is_a_floor_capped_by_backoff_max() -> None:
    rng = random.Random(1)
    assert backoff_delay(POLICY, 1, rng=rng, retry_after=5.0) >= 5.0
    assert backoff_delay(POLICY, 1, rng=rng, retry_after=999.0) == 8.0


class HangingSender:
    """A peer that never answers (the send is in flight when shutdown starts)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def send(self, item: QueueItem) -> Delivery:
        self.started.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


class RefusingSender:
    async def send(self, item: QueueItem) -> Delivery:
        raise PeerRejected("refused", detail={"http_status": 422, "peer_code": "schema_invalid"})


class Recorder:
    """Writes outcomes through the real queue (the store recorder is covered end to end)."""

    def __init__(self, store: Store, queue: SqlQueue) -> None:
        self.store, self.queue = store, queue
        self.refusals: list[tuple[int, str]] = []

    async def delivered(self, item: QueueItem, delivery: Delivery, *, now: datetime) -> None:
        async with self.store.transaction() as tx:
            await self.queue.complete(item, tx=tx)

    async def retry(self, item: QueueItem, *, error: str, detail: dict[str, object],
                    delay_s: float, now: datetime) -> RetryDecision:
        async with self.store.transaction() as tx:
            return await self.queue.retry(item, tx=tx, error=error, now=now, delay_s=delay_s)

    async def failed(self, item: QueueItem, *, error: str, detail: dict[str, object],
                     now: datetime) -> None:
        async with self.store.transaction() as tx:
            await self.queue.dead_letter(item, tx=tx, error=error, now=now)
        self.refusals.append((item.id, str(detail["peer_code"])))

    async def gave_up(self, item: QueueItem, *, decision: RetryDecision, error: str,
                      now: datetime) -> None:
        async with self.store.transaction() as tx:
            await self.queue.dead_letter(item, tx=tx, error=error, now=now)


async def _store_with_items(tmp_path: Path, n: int) -> tuple[Store, SqlQueue]:
    store = await Store.open(f"sqlite:///{tmp_path / 'q.sqlite3'}", tmp_path / "blobs")
    now = datetime.now(UTC)
    async with store.transaction() as tx:
        for i in range(n):
            await tx.enqueue(WorkKind.DELIVER_EDOC, f"ref-{i}", now=now - timedelta(seconds=1))
    return store, SqlQueue(store, policy=POLICY)


async def _states(store: Store) -> list[tuple[str, int]]:
    from sqlalchemy import text

    async with store.reader() as tx:
        rows = (await tx.session.execute(
            text("SELECT state, attempts FROM outbox ORDER BY id"))).all()
    return [(str(s), int(a)) for s, a in rows]


async def test_graceful_stop_releases_in_flight_leases(tmp_path: Path) -> None:
    store, queue = await _store_with_items(tmp_path, 3)
    sender = HangingSender()
    dispatcher = Dispatcher(queue=queue, retry_policy=POLICY, sender=sender,
                            recorder=Recorder(store, queue),
                            policy=DispatchPolicy(workers=2, grace_s=0.2), clock=SYSTEM_CLOCK)
    dispatcher.start()
    await asyncio.wait_for(sender.started.wait(), 5)
    while dispatcher.inflight < 2:
        await asyncio.sleep(0.01)
    assert [s for s, _ in await _states(store)].count(OutboxState.LEASED.value) == 2
    await dispatcher.stop()
    # Released: ready again, the interrupted attempt not counted.
    assert await _states(store) == [("ready", 0)] * 3
    await store.close()


async def test_permanent_refusal_dead_letters_without_retry(tmp_path: Path) -> None:
    store, queue = await _store_with_items(tmp_path, 2)
    recorder = Recorder(store, queue)
    dispatcher = Dispatcher(queue=queue, retry_policy=POLICY, sender=RefusingSender(),
                            recorder=recorder, policy=DispatchPolicy(workers=4),
                            clock=SYSTEM_CLOCK)
    dispatcher.start()
    for _ in range(200):
        if len(recorder.refusals) == 2:
            break
        await asyncio.sleep(0.02)
    await dispatcher.stop()
    assert sorted(code for _, code in recorder.refusals) == ["schema_invalid"] * 2
    assert await _states(store) == [("dead", 1), ("dead", 1)]
    await store.close()


@pytest.mark.parametrize("attempts", [6])
async def test_item_past_its_bounds_after_a_crash_is_given_up(tmp_path: Path,
                                                              attempts: int) -> None:
    store, queue = await _store_with_items(tmp_path, 1)
    from sqlalchemy import text

    async with store.transaction() as tx:
        await tx.session.execute(text("UPDATE outbox SET attempts = :a"), {"a": attempts - 1})
    sender = HangingSender()
    dispatcher = Dispatcher(queue=queue, retry_policy=POLICY, sender=sender,
                            recorder=Recorder(store, queue), policy=DispatchPolicy(workers=1),
                            clock=SYSTEM_CLOCK)
    dispatcher.start()
    for _ in range(200):
        if (await _states(store))[0][0] == "dead":
            break
        await asyncio.sleep(0.02)
    await dispatcher.stop()
    assert not sender.started.is_set()
    assert (await _states(store))[0][0] == "dead"
    await store.close()
