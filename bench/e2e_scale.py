"""``bench/e2e.py --backend pg-amqp --workers 1,2,4``: the scale-out configurations of issue 8
side by side with the SQLite default, in one run.

Every configuration gets a fresh pair of nodes (``docnode.localnet``): B is the same receiving
node each time (SQLite, one process, rate limits opened so that B's per-peer limit of the
default config does not cap the sender); A is either the default (SQLite, sql queue, one
process) or PostgreSQL (a throw-away database, payloads in it) + RabbitMQ (a throw-away name
prefix) run as ``docnode run --workers W``: one listener process and W worker processes.

Two figures per configuration, both on the same N small documents:
* ``drain``: the N documents are queued while A is stopped, then A starts; docs/s over the
  interval from the first to the last ``delivered`` event. This is the dispatch capacity
  the worker processes add (the submitter is out of the picture).
* ``live``: :func:`e2e._run` while A runs (submit with a few in flight, receipt verified,
  ``delivered`` recorded): docs/s and p50/p99 submit→delivered.
Environment: ``DOCNODE_BENCH_PG_URL`` (admin URL used to create/drop the database, default
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``), ``DOCNODE_BENCH_AMQP_URL``
(default ``amqp://guest:guest@127.0.0.1:5672/``). Credentials are never printed.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, text

from docnode.app import open_node
from docnode.config import load_config
from docnode.localnet import FAST_DELIVERY, LocalNet
from docnode.metadata import FileInput, edoc_from_metadata
from docnode.store import EventKind

PG_ADMIN = os.environ.get("DOCNODE_BENCH_PG_URL",
                          "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("DOCNODE_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
AMQP_ENV = "DOCNODE_BENCH_NODE_AMQP_URL"
OPEN_LIMITS = {"peer_rate_per_s": 100000.0, "peer_burst": 100000,
               "system_rate_per_s": 100000.0, "system_burst": 100000}
PAYLOAD = b"%PDF-1.4 small attachment\n" * 20

RunLive = Callable[[LocalNet, int, str, int], Any]
CLK = os.sysconf("SC_CLK_TCK")


async def _admin(sql: str) -> None:
    import asyncpg

    url = make_url(PG_ADMIN)
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 password=url.password, database=url.database or "postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _delete_prefix(prefix: str) -> None:
    import aio_pika

    from docnode.queue.amqp_link import Topology

    topology = Topology(prefix)
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        for name in topology.all_queues():
            await channel.queue_delete(name)
        await channel.exchange_delete(topology.exchange)
    finally:
        await connection.close()


def _net(base: Path, *, backend: str, sends: int) -> tuple[LocalNet, str | None, str | None]:
    net = LocalNet.create(base, [("A", "000.00.00.G22"), ("B", "000.00.00.H41")],
                          delivery={**FAST_DELIVERY, "workers": sends},
                          logging={"level": "warning"})
    net["B"].update_config({"limits": OPEN_LIMITS})
    if backend == "sqlite":
        return net, None, None
    database = f"docnode_bench_{secrets.token_hex(5)}"
    prefix = f"dnbench.{secrets.token_hex(5)}"
    asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
    url = make_url(PG_ADMIN).set(database=database).render_as_string(hide_password=False)
    os.environ[AMQP_ENV] = AMQP_URL
    net["A"].update_config({
        "store": {"url": url, "blobs": "database"},
        "queue": {"backend": "amqp", "amqp_url_env": AMQP_ENV, "amqp_prefix": prefix}})
    return net, database, prefix


async def _queue_documents(config: Path, recipient: str, docs: int) -> None:
    async with open_node(load_config(config), consume=False) as node:
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with sem:
                edoc = edoc_from_metadata(
                    {"to": [recipient], "subject": f"drain {i}", "code": f"{i}/DRAIN"},
                    [FileInput(f"doc-{i}.pdf", PAYLOAD, "application/pdf")],
                    now=datetime.now(UTC), sender=node.service.organization())
                await node.service.submit(edoc, actor="bench")

        await asyncio.gather(*(one(i) for i in range(docs)))


async def _drain(config: Path, docs: int, timeout_s: float,
                 pids: dict[str, int]) -> tuple[list[float], dict[str, float]]:
    """Delivered times, and the CPU the processes in ``pids`` (trees) used from the first
    delivery on (start-up is not dispatch work)."""
    async with open_node(load_config(config), consume=False) as node:
        deadline = time.monotonic() + timeout_s
        cpu0: dict[str, float] | None = None
        while True:
            async with node.store.reader() as tx:
                rows = (await tx.session.execute(
                    text("SELECT at FROM events WHERE kind = :k"),
                    {"k": EventKind.DELIVERED.value})).all()
            if rows and cpu0 is None:
                cpu0 = {k: _tree_cpu(p) for k, p in pids.items()}
            if len(rows) >= docs or time.monotonic() > deadline:
                used = {k: round(_tree_cpu(p) - (cpu0 or {}).get(k, 0.0), 2)
                        for k, p in pids.items()}
                return sorted(_ts(r[0]) for r in rows), used
            await asyncio.sleep(0.2)


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK


def _tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its live children (``docnode run --workers``)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return _cpu_s(pid) + sum(_cpu_s(c) for c in children)


def _ts(value: Any) -> float:
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return (when.replace(tzinfo=UTC) if when.tzinfo is None else when).timestamp()


def _config_run(backend: str, workers: int, *, docs: int, sends: int, concurrency: int,
                run_live: RunLive) -> dict[str, Any]:
    label = "sqlite (default, 1 process)" if backend == "sqlite" else \
        f"pg-amqp, {workers} worker process{'es' if workers > 1 else ''}"
    args = [] if backend == "sqlite" else ["--workers", str(workers)]
    with tempfile.TemporaryDirectory(prefix="docnode-bench-scale-") as tmp:
        net, database, prefix = _net(Path(tmp), backend=backend, sends=sends)
        a, b = net["A"], net["B"]
        try:
            b.start()
            # drain: queue first, then start A
            asyncio.run(_queue_documents(a.config, b.organ_id, docs))
            a.start(args=args)
            assert a.process is not None and b.process is not None
            # CPU from the first delivery on (A: its listener process and its workers).
            times, drain_cpu = asyncio.run(_drain(
                a.config, docs, 120 + docs * 0.2, {"A": a.process.pid, "B": b.process.pid}))
            drain = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
            # live: submit while A runs
            live = asyncio.run(run_live(net, docs, "small", concurrency))
        finally:
            net.stop()
            if prefix is not None:
                asyncio.run(_delete_prefix(prefix))
            if database is not None:
                asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    return {"config": label, "backend": backend, "worker_processes": workers,
            "sends_per_process": sends, "drain_delivered": len(times),
            "drain_docs_per_s": round(drain, 1), "drain_cpu_s": drain_cpu,
            "drain_cpu_ms_per_doc": round(sum(drain_cpu.values()) * 1000 / docs, 1),
            "live_delivered": live["delivered"],
            "live_docs_per_s": live["docs_per_s"],
            "live_submit_to_delivered_ms": live["submit_to_delivered_ms"],
            "cpu_s": live["cpu_s"]}


def run_scale(*, workers: Sequence[int], docs: int, sends: int, concurrency: int,
              run_live: RunLive) -> dict[str, Any]:
    """Every configuration in turn (module docstring); the result with the ratios."""
    rows = [_config_run("sqlite", 1, docs=docs, sends=sends, concurrency=concurrency,
                        run_live=run_live)]
    rows += [_config_run("pg-amqp", w, docs=docs, sends=sends, concurrency=concurrency,
                         run_live=run_live) for w in workers]
    base = next((r for r in rows if r["backend"] == "pg-amqp" and r["worker_processes"] == 1),
                None)
    for row in rows:
        if base is not None and base["drain_docs_per_s"]:
            row["drain_vs_1_worker"] = round(row["drain_docs_per_s"]
                                             / base["drain_docs_per_s"], 2)
    return {"docs": docs, "size": "small", "payload_bytes": len(PAYLOAD),
            "machine": {"cpus": os.cpu_count()}, "configs": rows}


def table(result: dict[str, Any]) -> str:
    lines = [f"{'configuration':34} {'drain docs/s':>12} {'x1':>6} {'CPU ms/doc':>10} "
             f"{'live docs/s':>12} {'p50 ms':>9} {'p99 ms':>9}"]
    for r in result["configs"]:
        lat = r["live_submit_to_delivered_ms"]
        lines.append(f"{r['config']:34} {r['drain_docs_per_s']:>12} "
                     f"{r.get('drain_vs_1_worker', ''):>6} {r['drain_cpu_ms_per_doc']:>10} "
                     f"{r['live_docs_per_s']:>12} {lat.get('p50', ''):>9} "
                     f"{lat.get('p99', ''):>9}")
    return "\n".join(lines)
