"""Scaled-out nodes for the tests of issue 8: a sending node A on PostgreSQL (payloads in the
database) and RabbitMQ, run as several processes, and a real receiving node B whose
``/metrics`` counts every packet it was sent (accepted or duplicate). Small factories over
:mod:`docnode.localnet`, no fakes (STYLE §9)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from docnode.app import Node
from docnode.localnet import CLI, FAST_DELIVERY, LocalNet, LocalNode
from docnode.metadata import FileInput, edoc_from_metadata
from tests.servers import AmqpTarget

AMQP_ENV = "DOCNODE_SCALE_AMQP_URL"
"""The broker URL reaches the nodes through the environment (a URL with a password is never
written into a config file)."""

SMALL = b"%PDF-1.4 small attachment\n" * 20

# B accepts a flood from A: the default per-peer rate limit (429 beyond) would turn the test
# into a test of retries.
OPEN_LIMITS = {"peer_rate_per_s": 100000.0, "peer_burst": 100000,
               "system_rate_per_s": 100000.0, "system_burst": 100000}


def scale_net(base: Path, *, store_a: str, store_b: str, amqp: AmqpTarget | None,
              **delivery: Any) -> LocalNet:
    """A (``store_a``, blobs in the database, amqp queue when ``amqp``) and B."""
    net = LocalNet.create(base, [("A", "000.00.00.G22"), ("B", "000.00.00.H41")],
                          delivery={**FAST_DELIVERY, **delivery},
                          logging={"level": "warning"})
    a_store: dict[str, Any] = {"url": store_a}
    if store_a.startswith("postgresql"):
        a_store["blobs"] = "database"
    overrides: dict[str, dict[str, Any]] = {"store": a_store}
    if amqp is not None:
        os.environ[AMQP_ENV] = amqp.url
        overrides["queue"] = {"backend": "amqp", "amqp_url_env": AMQP_ENV,
                              "amqp_prefix": amqp.prefix}
    net["A"].update_config(overrides)
    net["B"].update_config({"store": {"url": store_b}, "limits": OPEN_LIMITS})
    return net


async def submit_many(parts: Node, recipient: str, n: int, *, concurrency: int = 16,
                      tag: str = "S") -> list[str]:
    """Submit ``n`` small documents the way ``docnode send`` does; returns their ids."""
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> str:
        async with sem:
            edoc = edoc_from_metadata(
                {"to": [recipient], "subject": f"scale {i}", "code": f"{i}/{tag}"},
                [FileInput(f"doc-{i}.pdf", SMALL, "application/pdf")],
                now=datetime.now(UTC), sender=parts.service.organization())
            return (await parts.service.submit(edoc, actor="test")).document_id

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def delivery_states(parts: Node) -> dict[str, int]:
    async with parts.store.reader() as tx:
        rows = (await tx.session.execute(
            text("SELECT state, count(*) FROM deliveries GROUP BY state"))).all()
    return {str(state): int(count) for state, count in rows}


async def wait_delivered(parts: Node, n: int, *, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        states = await delivery_states(parts)
        if states.get("delivered", 0) >= n:
            return states
        if time.monotonic() > deadline:
            raise AssertionError(f"not all delivered within {timeout}s: {states}")
        await asyncio.sleep(0.25)


def received_counts(node: LocalNode) -> dict[str, int]:
    """B's ``docnode_documents_received_total`` by outcome: every POST it answered."""
    with urllib.request.urlopen(node.api_url + "/metrics", timeout=10) as resp:  # noqa: S310 - loopback URL we built
        body = resp.read().decode()
    found = re.findall(r'^docnode_documents_received_total\{outcome="(\w+)"\} ([0-9.e+]+)$',
                       body, re.MULTILINE)
    return {outcome: int(float(value)) for outcome, value in found}


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (the worker processes of ``docnode run --workers``)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return sorted(out)


@contextmanager
def worker_processes(node: LocalNode, count: int,
                     extra: Sequence[str] = ()) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` independent ``docnode run --no-listen`` processes on ``node``'s config (the
    worker machines of a scaled-out node). Stopped (SIGTERM, then SIGKILL) on exit."""
    log = (node.directory / "workers.log").open("ab")
    procs = [subprocess.Popen([*CLI, "run", "-c", str(node.config), "--no-listen", *extra],
                              stdout=log, stderr=subprocess.STDOUT)
             for _ in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def rabbitmq_drop_connections() -> None:
    """Close every client connection of the broker (``rabbitmqctl close_all_connections``)."""
    subprocess.run(["rabbitmqctl", "close_all_connections", "docnode scale test"],
                   check=True, capture_output=True, timeout=60)
