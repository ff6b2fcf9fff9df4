"""docnode.queue.sql on real SQLite files: exclusive claims across processes, lease expiry and
take-over, backoff, dead letter, release and stats."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from docnode.errors import LeaseLost
from docnode.queue import QueueItem, RetryDecision, RetryPolicy, SqlQueue
from docnode.store import OutboxState, Store, WorkKind, create_engine

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def store(store_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    # Parametrised: SQLite and a throw-away PostgreSQL database (tests/servers.py).
    s = await Store.open(store_url, tmp_path / "blobs")
    yield s
    await s.close()


async def _enqueue(store: Store, n: int, *, at: datetime = NOW, delay_s: float = 0.0,
                   kind: WorkKind = WorkKind.DELIVER_EDOC) -> list[int]:
    async with store.transaction() as tx:
        items = [await tx.enqueue(kind, f"delivery-{i}", now=at, delay_s=delay_s)
                 for i in range(n)]
    return [i.id for i in items]


async def test_claim_leases_due_items_oldest_first(store: Store) -> None:
    q = SqlQueue(store)
    first = await _enqueue(store, 2, at=NOW - timedelta(seconds=10))
    second = await _enqueue(store, 1, at=NOW)
    await _enqueue(store, 1, at=NOW, delay_s=60)  # not due yet
    got = await q.claim("w1", limit=2, lease_s=30, now=NOW)
    assert [i.id for i in got] == first
    assert all(i.attempts == 1 and i.lease_owner == "w1" for i in got)
    assert got[0].lease_expires_at == NOW + timedelta(seconds=30)
    assert got[0].kind is WorkKind.DELIVER_EDOC and got[0].ref == "delivery-0"
    assert [i.id for i in await q.claim("w2", limit=10, lease_s=30, now=NOW)] == second
    assert await q.claim("w2", limit=10, lease_s=30, now=NOW) == []
    stats = await q.stats(now=NOW)
    assert (stats.ready, stats.due, stats.leased, stats.dead) == (1, 0, 3, 0)
    assert stats.oldest_age_s == 10.0


async def test_complete_removes_the_item_in_the_callers_transaction(store: Store) -> None:
    q = SqlQueue(store)
    await _enqueue(store, 1)
    (item,) = await q.claim("w1", limit=1, lease_s=30, now=NOW)
    with pytest.raises(RuntimeError):
        async with store.transaction() as tx:
            await q.complete(item, tx=tx)
            raise RuntimeError  # the use case failed: the item must survive
    assert (await q.stats(now=NOW)).leased == 1
    async with store.transaction() as tx:
        await q.complete(item, tx=tx)
    stats = await q.stats(now=NOW)
    assert (stats.ready, stats.leased, stats.dead, stats.oldest_age_s) == (0, 0, 0, 0.0)


async def test_expired_lease_is_taken_over_and_the_old_holder_is_refused(store: Store) -> None:
    q = SqlQueue(store)
    await _enqueue(store, 1)
    (old,) = await q.claim("crashed", limit=1, lease_s=30, now=NOW)
    assert await q.claim("w2", limit=1, lease_s=30, now=NOW + timedelta(seconds=29)) == []
    (new,) = await q.claim("w2", limit=1, lease_s=30, now=NOW + timedelta(seconds=31))
    assert new.id == old.id and new.lease_token == old.lease_token + 1
    assert new.attempts == 2 and new.lease_owner == "w2"
    # The old holder comes back: every finishing call is refused, and its whole
    # transaction (e.g. the delivery's event) rolls back.
    for finish in ("complete", "retry", "dead_letter"):
        with pytest.raises(LeaseLost) as info:
            async with store.transaction() as tx:
                await tx.append_event(kind="delivered", at=NOW, actor="worker:crashed")
                if finish == "complete":
                    await q.complete(old, tx=tx)
                elif finish == "retry":
                    await q.retry(old, tx=tx, error="x", now=NOW, delay_s=1)
                else:
                    await q.dead_letter(old, tx=tx, error="x", now=NOW)
        assert info.value.code == "lease_lost"
    with pytest.raises(LeaseLost):
        await q.extend(old, lease_s=30, now=NOW)
    report = await store.verify_event_chain()
    assert report.ok and report.checked == 0
    async with store.transaction() as tx:
        await q.complete(new, tx=tx)


async def test_extend_keeps_the_item(store: Store) -> None:
    q = SqlQueue(store)
    await _enqueue(store, 1)
    (item,) = await q.claim("w1", limit=1, lease_s=30, now=NOW)
    item = await q.extend(item, lease_s=60, now=NOW + timedelta(seconds=20))
    assert item.lease_expires_at == NOW + timedelta(seconds=80)
    assert await q.claim("w2", limit=1, lease_s=30, now=NOW + timedelta(seconds=70)) == []
    async with store.transaction() as tx:
        await q.complete(item, tx=tx)


async def test_retry_backs_off(store: Store) -> None:
    q = SqlQueue(store)
    await _enqueue(store, 1)
    (item,) = await q.claim("w1", limit=1, lease_s=30, now=NOW)
    async with store.transaction() as tx:
        decision = await q.retry(item, tx=tx, error="HTTP 503", now=NOW, delay_s=10)
    assert decision is RetryDecision.SCHEDULED
    stats = await q.stats(now=NOW)
    assert (stats.ready, stats.due, stats.leased) == (1, 0, 0)
    assert await q.claim("w1", limit=1, lease_s=30, now=NOW + timedelta(seconds=9)) == []
    (again,) = await q.claim("w1", limit=1, lease_s=30, now=NOW + timedelta(seconds=10))
    assert again.id == item.id and again.attempts == 2 and again.last_error == "HTTP 503"


def test_backoff_policy_is_exponential_capped_with_jitter() -> None:
    p = RetryPolicy(backoff_initial_s=1, backoff_max_s=300)
    assert [p.delay(n, 0.0) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert [p.delay(n, 1.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert p.delay(30, 0.0) == 150.0 and p.delay(30, 1.0) == 300.0
    assert 0.5 <= p.delay(1, 0.3) <= 1.0


async def test_policy_backoff_is_used_when_no_delay_is_given(store: Store) -> None:
    q = SqlQueue(store, policy=RetryPolicy(backoff_initial_s=4, backoff_max_s=100))
    await _enqueue(store, 1)
    (item,) = await q.claim("w1", limit=1, lease_s=30, now=NOW)
    async with store.transaction() as tx:
        await q.retry(item, tx=tx, error="timeout", now=NOW)
    assert await q.claim("w1", limit=1, lease_s=30, now=NOW + timedelta(seconds=1.9)) == []
    assert len(await q.claim("w1", limit=1, lease_s=30, now=NOW + timedelta(seconds=4))) == 1


async def test_dead_letter_after_max_attempts_and_requeue(store: Store) -> None:
    q = SqlQueue(store, policy=RetryPolicy(max_attempts=3))
    await _enqueue(store, 1)
    decisions = []
    t = NOW
    for _ in range(3):
        (item,) = await q.claim("w1", limit=1, lease_s=30, now=t)
        async with store.transaction() as tx:
            decisions.append(await q.retry(item, tx=tx, error="HTTP 500", now=t, delay_s=1))
        t += timedelta(seconds=2)
    assert decisions == [RetryDecision.SCHEDULED, RetryDecision.SCHEDULED,
                         RetryDecision.MAX_ATTEMPTS]
    assert await q.claim("w1", limit=1, lease_s=30, now=t + timedelta(days=1)) == []
    stats = await q.stats(now=t)
    assert (stats.ready, stats.leased, stats.dead) == (0, 0, 1)
    async with store.transaction() as tx:
        assert await q.requeue_dead(tx=tx, now=t) == 1
    (item,) = await q.claim("w1", limit=1, lease_s=30, now=t)
    assert item.attempts == 1


async def test_dead_letter_when_the_next_try_would_be_too_old(store: Store) -> None:
    q = SqlQueue(store, policy=RetryPolicy(max_age_s=3600))
    await _enqueue(store, 1)
    late = NOW + timedelta(seconds=3595)
    (item,) = await q.claim("w1", limit=1, lease_s=30, now=late)
    async with store.transaction() as tx:
        assert await q.retry(item, tx=tx, error="x", now=late, delay_s=10) \
            is RetryDecision.MAX_AGE
    assert (await q.stats(now=late)).dead == 1


async def test_exhausted_items_claimed_after_a_crash_are_recognised(store: Store) -> None:
    policy = RetryPolicy(max_attempts=1)
    q = SqlQueue(store, policy=policy)
    await _enqueue(store, 1)
    (first,) = await q.claim("crashed", limit=1, lease_s=5, now=NOW)
    assert policy.exhausted(first, now=NOW) is None
    (again,) = await q.claim("w2", limit=1, lease_s=5, now=NOW + timedelta(seconds=6))
    assert policy.exhausted(again, now=NOW) is RetryDecision.MAX_ATTEMPTS
    async with store.transaction() as tx:
        await q.dead_letter(again, tx=tx, error="worker crashed on it", now=NOW)


async def test_release_on_shutdown_gives_items_back_uncounted(store: Store) -> None:
    q = SqlQueue(store)
    await _enqueue(store, 3)
    await q.claim("w1", limit=2, lease_s=300, now=NOW)
    await q.claim("w2", limit=1, lease_s=300, now=NOW)
    assert await q.release("w1", now=NOW + timedelta(seconds=1)) == 2
    got = await q.claim("w3", limit=5, lease_s=30, now=NOW + timedelta(seconds=1))
    assert len(got) == 2 and all(i.attempts == 1 for i in got)


async def test_two_engines_in_one_process_never_share_an_item(store_url: str,
                                                             store: Store) -> None:
    ids = await _enqueue(store, 200)
    url = store_url
    engines = [create_engine(url) for _ in range(2)]
    try:
        queues = [SqlQueue(e) for e in engines]

        async def drain(q: SqlQueue, name: str) -> list[int]:
            taken: list[int] = []
            while batch := await q.claim(name, limit=3, lease_s=300, now=NOW):
                taken += [i.id for i in batch]
                await asyncio.sleep(0)
            return taken

        a, b = await asyncio.gather(drain(queues[0], "a"), drain(queues[1], "b"))
    finally:
        for e in engines:
            await e.dispose()
    assert not set(a) & set(b)
    assert sorted(a + b) == ids


_WORKER = textwrap.dedent("""
    import asyncio, json, sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from docnode.queue import SqlQueue
    from docnode.store import Store

    async def main(url, name, go):
        store = await Store.open(url, Path(go).parent / "blobs", migrate=False)
        queue = SqlQueue(store)
        print("ready", flush=True)
        while not Path(go).exists():
            time.sleep(0.005)
        taken = []
        while True:
            batch = await queue.claim(name, limit=5, lease_s=600, now=datetime.now(UTC))
            if not batch:
                break
            for item in batch:
                async with store.transaction() as tx:
                    await queue.complete(item, tx=tx)
                taken.append(item.id)
        await store.close()
        print(json.dumps(taken), flush=True)

    asyncio.run(main(*sys.argv[1:4]))
""")


@pytest.mark.slow
async def test_two_processes_never_claim_the_same_item(tmp_path: Path, store_url: str,
                                                      store: Store) -> None:
    ids = await _enqueue(store, 500, at=datetime.now(UTC) - timedelta(seconds=1))
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    go = tmp_path / "go"
    url = store_url
    procs = [subprocess.Popen([sys.executable, str(script), url, name, str(go)],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for name in ("p1", "p2")]
    try:
        for p in procs:  # both are connected before either starts claiming
            assert p.stdout is not None
            line = await asyncio.to_thread(p.stdout.readline)
            assert line.strip() == "ready", p.stderr.read() if p.stderr else ""
        go.touch()
        outputs = [await asyncio.to_thread(p.communicate, timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-2000:]
    taken = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert all(taken), "both processes must have taken part"
    assert not set(taken[0]) & set(taken[1])
    assert sorted(taken[0] + taken[1]) == ids
    stats = await SqlQueue(store).stats(now=datetime.now(UTC))
    assert (stats.ready, stats.leased, stats.dead) == (0, 0, 0)


async def test_items_carry_references_only(store: Store) -> None:
    await _enqueue(store, 1, kind=WorkKind.DELIVER_STATUS)
    (item,) = await SqlQueue(store).claim("w1", limit=1, lease_s=30, now=NOW)
    assert isinstance(item, QueueItem) and item.kind is WorkKind.DELIVER_STATUS
    assert set(QueueItem.__dataclass_fields__) == {
        "id", "kind", "ref", "attempts", "lease_owner", "lease_token", "lease_expires_at",
        "created_at", "last_error"}
    assert OutboxState.LEASED.value == "leased"


def test_claim_is_one_update_returning_with_skip_locked_on_postgresql() -> None:
    from sqlalchemy import Dialect
    from sqlalchemy.dialects import postgresql, sqlite

    from docnode.queue.sql import claim_statement

    pg_dialect: Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves dialect constructors untyped
    pg = str(claim_statement("postgresql", "w", limit=5, lease_s=30, now=NOW).compile(
        dialect=pg_dialect))
    lite = str(claim_statement("sqlite", "w", limit=5, lease_s=30, now=NOW).compile(
        dialect=sqlite.dialect()))
    for sql in (pg, lite):
        assert sql.startswith("UPDATE outbox SET") and sql.count("UPDATE outbox") == 1
        assert "WHERE outbox.id IN (SELECT outbox.id" in sql and "RETURNING" in sql
    assert "FOR UPDATE SKIP LOCKED" in pg
    assert "FOR UPDATE" not in lite
