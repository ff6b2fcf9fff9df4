"""Scaled-out dispatch on PostgreSQL + RabbitMQ with real nodes (issue 8): two worker
processes drain 1,000 documents with no duplicate send and no loss; a worker killed with
``kill -9`` mid-way leaves its work to the other; dropped broker connections lose nothing."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from docnode.app import Node, open_node
from docnode.config import load_config
from tests.scale.kit import (
    children_of,
    rabbitmq_drop_connections,
    received_counts,
    scale_net,
    submit_many,
    wait_delivered,
    worker_processes,
)
from tests.servers import AmqpTarget

pytestmark = pytest.mark.slow


async def test_two_worker_processes_drain_1000_documents_once_each(
        tmp_path: Path, pg_url: str, amqp: AmqpTarget) -> None:
    net = scale_net(tmp_path, store_a=pg_url, store_b=f"sqlite:///{tmp_path / 'b.sqlite3'}",
                    amqp=amqp, workers=8)
    a, b = net["A"], net["B"]
    b.start()
    a.start(args=["--workers", "2"])
    try:
        assert a.process is not None
        assert len(children_of(a.process.pid)) == 2
        async with open_node(load_config(a.config)) as parts:
            ids = await submit_many(parts, b.organ_id, 1000)
            states = await wait_delivered(parts, 1000, timeout=600)
        assert len(set(ids)) == 1000
        assert states == {"delivered": 1000}
        counts = received_counts(b)
        assert counts.get("accepted") == 1000  # every document reached B
        assert counts.get("duplicate", 0) == 0  # and none was sent twice
        assert counts.get("refused", 0) == 0
    finally:
        a.stop()
        b.stop()


async def test_a_worker_killed_mid_way_leaves_its_work_to_the_other(
        tmp_path: Path, pg_url: str, amqp: AmqpTarget) -> None:
    net = scale_net(tmp_path, store_a=pg_url, store_b=f"sqlite:///{tmp_path / 'b.sqlite3'}",
                    amqp=amqp, workers=4, lease_s=6.0, request_timeout_s=5.0)
    a, b = net["A"], net["B"]
    b.start()
    try:
        async with open_node(load_config(a.config)) as parts:
            ids = await submit_many(parts, b.organ_id, 400)  # queued before any worker runs
            with worker_processes(a, 2) as (doomed, survivor):
                await wait_delivered(parts, 60, timeout=300)
                os.kill(doomed.pid, signal.SIGKILL)  # no cleanup, leases and messages held
                doomed.wait()
                states = await wait_delivered(parts, 400, timeout=300)
                assert survivor.poll() is None  # the survivor finished the work
        assert states == {"delivered": 400}
        counts = received_counts(b)
        # Exactly-once in effect: B stored each document once. A send in flight when the
        # worker died may be repeated (at-least-once); B answered it as a duplicate.
        assert counts.get("accepted") == len(ids)
        assert counts.get("duplicate", 0) <= 8  # at most the dead worker's prefetch
    finally:
        b.stop()


async def test_dropped_broker_connections_lose_nothing(tmp_path: Path, pg_url: str,
                                                       amqp: AmqpTarget) -> None:
    net = scale_net(tmp_path, store_a=pg_url, store_b=f"sqlite:///{tmp_path / 'b.sqlite3'}",
                    amqp=amqp, workers=4)
    a, b = net["A"], net["B"]
    b.start()
    a.start(args=["--workers", "2"])
    try:
        async with open_node(load_config(a.config)) as parts:
            first = await submit_many(parts, b.organ_id, 150, tag="F")
            await wait_delivered(parts, 30, timeout=300)
            await asyncio.to_thread(rabbitmq_drop_connections)
            # Submissions keep being accepted while the node reconnects.
            second = await submit_many(parts, b.organ_id, 150, tag="G")
            states = await wait_delivered(parts, 300, timeout=300)
        assert states == {"delivered": 300}
        assert len(set(first + second)) == 300
        counts = received_counts(b)
        assert counts.get("accepted") == 300
        a.wait_ready()  # /readyz is back to ready: the broker link reconnected
    finally:
        a.stop()
        b.stop()


async def test_cut_database_connections_lose_nothing(tmp_path: Path, pg_url: str,
                                                     amqp: AmqpTarget) -> None:
    net = scale_net(tmp_path, store_a=pg_url, store_b=f"sqlite:///{tmp_path / 'b.sqlite3'}",
                    amqp=amqp, workers=4)
    a, b = net["A"], net["B"]
    b.start()
    a.start(args=["--workers", "2"])
    try:
        async with open_node(load_config(a.config)) as parts:
            ids = await submit_many(parts, b.organ_id, 150, tag="P")
            await wait_delivered(parts, 20, timeout=300)
            # Every session of A's processes on its database goes (a PostgreSQL restart, as
            # far as the node can tell); the submitter's own pool is cut too.
            for _ in range(3):
                await terminate_sessions(parts)
                await asyncio.sleep(0.5)
            states = await wait_delivered(parts, 150, timeout=300)
        assert states == {"delivered": 150}
        assert received_counts(b).get("accepted") == len(set(ids))
        a.wait_ready()  # /readyz is ready again: the store check passes
    finally:
        a.stop()
        b.stop()


async def terminate_sessions(parts: Node) -> None:
    from sqlalchemy import text

    from docnode.errors import StoreUnavailable

    try:
        async with parts.store.engine.connect() as conn:
            await conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    except StoreUnavailable:
        pass


async def test_workers_on_the_sqlite_default(tmp_path: Path) -> None:
    # One machine, the sql queue: the listener process and two worker processes share the
    # SQLite file; the cluster jobs' file lock is held by exactly one of them.
    net = scale_net(tmp_path, store_a=f"sqlite:///{tmp_path / 'a.sqlite3'}",
                    store_b=f"sqlite:///{tmp_path / 'b.sqlite3'}", amqp=None, workers=4)
    a, b = net["A"], net["B"]
    b.start()
    a.start(args=["--workers", "2"])
    workers: list[int] = []
    try:
        assert a.process is not None
        workers = children_of(a.process.pid)
        assert len(workers) == 2
        async with open_node(load_config(a.config)) as parts:
            ids = await submit_many(parts, b.organ_id, 40, tag="L")
            states = await wait_delivered(parts, 40, timeout=300)
        assert states == {"delivered": 40}
        assert received_counts(b).get("accepted") == len(set(ids))
    finally:
        a.stop()
        b.stop()
    # A graceful stop of the supervisor stops its workers too.
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


async def test_workers_of_a_killed_supervisor_stop_by_themselves(tmp_path: Path) -> None:
    net = scale_net(tmp_path, store_a=f"sqlite:///{tmp_path / 'a.sqlite3'}",
                    store_b=f"sqlite:///{tmp_path / 'b.sqlite3'}", amqp=None)
    a = net["A"]
    a.start(args=["--workers", "2"])
    assert a.process is not None
    workers = children_of(a.process.pid)
    assert len(workers) == 2
    a.kill()  # kill -9: the supervisor cannot tell its workers anything
    async with asyncio.timeout(60):
        while alive := [pid for pid in workers if _running(pid)]:
            await asyncio.sleep(0.2)
    assert alive == []


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # an exited orphan waits for init to reap it
