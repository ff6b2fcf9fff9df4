"""Composition: builds the node's parts and aiohttp apps for its role, runs and stops them.

Rules:
1. Parts are built once, in ONE place (:func:`open_node`), and handed to whoever needs them;
   nothing else constructs a store, a session or a signer. Resources live under typed
   ``web.AppKey``s on the api app and are released in its ``cleanup_ctx`` in reverse order:
   workers stop first (finishing in-flight sends), then the direct listener (finishing
   in-flight receives), then the HTTP session, the store and the offload pools.
2. Optional parts are null objects chosen here (X-Road's NullLogManager): no direct listener
   when ``[listen] direct = ""``; no api site when ``[listen] api = ""`` (the app still runs
   its contexts). The ``axis`` role and the VXP poller are composed here in later issues.
3. ``SIGTERM``/``SIGINT`` start the graceful shutdown; a second signal is ignored while it
   runs (it is bounded by the dispatcher's grace and the listeners' shutdown timeout).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from docnode.api import mount_api, with_webhooks
from docnode.axis_poller import AxisDirectorySync, AxisPoller, AxisSender, axis_jobs
from docnode.clock import SYSTEM_CLOCK, Clock
from docnode.cluster import ClusterLock, cluster_lock, cluster_wide
from docnode.config import Role, Settings
from docnode.delivery import StoredPacketSender, StoreRecorder
from docnode.directory import Directory
from docnode.dispatch import Dispatcher, DispatchPolicy
from docnode.group_commit import GroupCommitter
from docnode.health import HealthResult, run_checks, tcp_reachable
from docnode.logging import configure_logging, get_logger
from docnode.metrics import METRICS, MeteredReceiver, NodeMetrics, metrics_response
from docnode.offload import Offloader
from docnode.queue import SqlQueue
from docnode.queue.amqp import AmqpQueue
from docnode.queue.backend import QueueRuntime, open_queue
from docnode.ratelimit import RateLimits, install_rate_limits
from docnode.scheduler import Job, Scheduler
from docnode.service import NodeService
from docnode.signer import PacketSigner
from docnode.store import Store
from docnode.transport.direct_client import DirectClient, client_ssl_context
from docnode.transport.direct_server import (
    RUNNER_OPTIONS,
    BodyLimits,
    direct_app,
    server_ssl_context,
)
from docnode.transport.vxp_client import VxpClient
from docnode.verification import VerificationContext, context_from_settings
from keystore.identity import load_identity
from keystore.trust import TrustStore, expiring, load_crl

log = get_logger("app")

EXPIRY_WARNING = timedelta(days=30)
LISTENER_SHUTDOWN_S = 15.0


@dataclass
class Node:
    """The running parts of one node (built by :func:`open_node`)."""

    settings: Settings
    clock: Clock
    offloader: Offloader
    store: Store
    queue: SqlQueue | AmqpQueue
    session: aiohttp.ClientSession
    signer: PacketSigner
    service: NodeService
    directory: Directory
    dispatcher: Dispatcher
    scheduler: Scheduler
    verification: VerificationContext
    direct_address: tuple[str, int] | None = None
    runtime: QueueRuntime | None = None
    """The queue backend's broker link and outbox relay (``amqp``; docnode.queue.backend)."""
    lock: ClusterLock | None = None
    """Held by the one process that runs cluster-wide jobs (docnode.cluster)."""


NODE = web.AppKey("docnode.node", Node)
SETTINGS = web.AppKey("docnode.settings", Settings)


def _peer_ssl(settings: Settings, passphrase: bytes | None) -> dict[str, Any]:
    contexts: dict[str, Any] = {}
    for peer in settings.peers:
        if peer.tls_ca is None and peer.client_cert is None:
            continue
        ctx = client_ssl_context(
            cafiles=(peer.tls_ca,) if peer.tls_ca else (),
            client_cert=peer.client_cert, client_key=peer.client_key, key_password=passphrase,
        )
        for oid in peer.organ_ids:
            contexts[oid] = ctx
    return contexts


@asynccontextmanager
async def open_node(
    settings: Settings, *, clock: Clock = SYSTEM_CLOCK,
    environ: Mapping[str, str] = os.environ, consume: bool = True,
) -> AsyncIterator[Node]:
    """Build every part of the node (rule 1); close them on exit. Workers are not started.
    ``consume=False``: this process will not dispatch (``docnode run --workers N`` keeps the
    listeners here and the dispatchers in worker processes)."""
    now = clock.now()
    passphrase = settings.identity.read_passphrase(environ)
    identity = load_identity(
        key=settings.identity.key, cert=settings.identity.cert, chain=settings.identity.chain,
        pkcs12=settings.identity.pkcs12, passphrase=passphrase, at=now,
    )
    verification = context_from_settings(settings)
    offloader = Offloader()
    store = await Store.from_settings(settings.store)
    try:
        runtime = open_queue(settings, store, clock=clock, consume=consume)
        queue = runtime.queue
        lock = cluster_lock(store.engine, settings.node.data_dir)
        async with store.reader() as tx:
            stored = {p.organ_id: p.url for p in await tx.list_peers()}
        directory = Directory(settings.peers, axis_configured=settings.axis is not None,
                              stored=stored)
        signer = PacketSigner(identity, offloader)
        # One group committer for the node's hot write paths (docnode.group_commit).
        writer = GroupCommitter(store)
        service = NodeService(
            organ_ids=settings.node.organ_ids, names=settings.node.name_of, store=store,
            signer=signer, verification=verification, offloader=offloader,
            directory=directory, clock=clock, writer=writer,
        )
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max(8, settings.delivery.workers * 2)),
            headers={"User-Agent": "docnode/0.1"},
        )
        client = DirectClient(session, receipts=service,
                              timeout_s=settings.delivery.request_timeout_s)
        peer_ssl = _peer_ssl(settings, passphrase)
        axis_client = _axis_client(settings, session, clock, environ)
        # Issue 7: ``webhook`` queue items go to the webhook sender, the rest as before.
        sender, recorder = with_webhooks(
            StoredPacketSender(
                store, client, ssl_for=peer_ssl.get,
                axis=None if axis_client is None else AxisSender(axis_client)),
            StoreRecorder(store, queue, actor="worker", writer=writer),
            store=store, queue=queue, session=session, clock=clock)
        dispatcher = Dispatcher(
            queue=queue, retry_policy=queue.policy, sender=sender, recorder=recorder,
            policy=DispatchPolicy(workers=settings.delivery.workers,
                                  lease_s=settings.delivery.lease_s),
            clock=clock,
        )
        service.set_on_queued(runtime.wire(dispatcher.wake))
        node = Node(settings=settings, clock=clock, offloader=offloader, store=store,
                    queue=queue, session=session, signer=signer, service=service,
                    directory=directory, dispatcher=dispatcher, scheduler=Scheduler(()),
                    verification=verification, runtime=runtime, lock=lock)
        jobs = _jobs(node, identity.certificate)
        if axis_client is not None and settings.axis is not None:
            # Polling the axis is a cluster-wide job: one process of the cluster polls.
            jobs += [cluster_wide(job, lock) for job in axis_jobs(
                AxisPoller(client=axis_client, service=service),
                AxisDirectorySync(axis_client, store, clock),
                poll_interval_s=settings.axis.poll_interval_s,
                directory_interval_s=settings.axis.directory_sync_s)]
        node.scheduler = Scheduler(jobs)
        try:
            yield node
        finally:
            await session.close()
            await runtime.close()
            await lock.close()
    finally:
        await store.close()
        offloader.close(wait=False)


def _axis_client(settings: Settings, session: aiohttp.ClientSession, clock: Clock,
                 environ: Mapping[str, str]) -> VxpClient | None:
    """The VXP client of an ``[axis]`` section (``docnode.axis_poller``), or ``None``."""
    if settings.axis is None:
        return None
    return VxpClient(session=session, endpoint=settings.axis.url,
                     system_id=settings.axis.system_id,
                     secret=settings.axis.read_secret(environ), clock=clock,
                     timeout_s=settings.delivery.request_timeout_s)


def _jobs(node: Node, own_cert: Any) -> list[Job]:
    settings = node.settings

    async def retry_sweep() -> None:
        # Claims pick due retries and items whose lease expired (a crashed worker's); waking
        # the dispatcher makes sure they are looked at even when nothing new is queued.
        node.dispatcher.wake()

    async def housekeeping() -> None:
        async with node.store.reader() as tx:
            node.directory.update_stored({p.organ_id: p.url for p in await tx.list_peers()})
        crls = await node.offloader.in_thread(_read_crls, settings.trust.crls)
        if crls:
            node.verification.trust.replace_crls(crls)
        stats = await node.queue.stats(now=node.clock.now())
        log.info("queue_stats", ready=stats.ready, due=stats.due, leased=stats.leased,
                 dead=stats.dead, oldest_age_s=round(stats.oldest_age_s, 1))

    async def certificate_expiry() -> None:
        trust: TrustStore = node.verification.trust
        for item in expiring([own_cert, *trust.anchors, *trust.intermediates],
                             within=EXPIRY_WARNING, at=node.clock.now()):
            log.warning("certificate_expiring", subject=item.subject,
                        days_left=round(item.days_left, 1), not_after=item.not_after)

    return [
        Job("retry_sweep", retry_sweep, interval_s=1.0),
        Job("housekeeping", housekeeping, interval_s=300.0),
        cluster_wide(Job("certificate_expiry", certificate_expiry, interval_s=86400.0,
                         run_at_start=True), node.lock) if node.lock is not None else
        Job("certificate_expiry", certificate_expiry, interval_s=86400.0, run_at_start=True),
    ]


def _read_crls(paths: tuple[Path, ...]) -> list[Any]:
    # Re-read the configured CRL files so that a CRL re-published by the CA is used without a
    # restart; a file that cannot be read keeps the CRLs in use (logged).
    try:
        return [load_crl(p.read_bytes()) for p in paths]
    except OSError as exc:
        log.warning("crl_reload_failed", error=str(exc))
        return []


# --- the aiohttp apps ------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    node = request.app[NODE]

    async def store() -> HealthResult:
        async with node.store.reader() as tx:
            await tx.list_peers()
        return HealthResult("store", True)

    async def identity() -> HealthResult:
        not_after = node.signer.identity.certificate.not_valid_after_utc
        ok = not_after > node.clock.now()
        return HealthResult("identity", ok, f"valid until {not_after.isoformat()}")

    async def queue() -> HealthResult:
        stats = await node.queue.stats(now=node.clock.now())
        return HealthResult("queue", True, f"due={stats.due} leased={stats.leased}")

    checks = [store, identity, queue]
    if node.runtime is not None:
        checks.append(node.runtime.health)
    axis = node.settings.axis
    if axis is not None:
        async def axis_reachable() -> HealthResult:
            return await tcp_reachable("axis", axis.url)

        checks.append(axis_reachable)
    results = await run_checks(checks)
    ok = all(r.ok for r in results)
    body = {"status": "ready" if ok else "not_ready",
            "checks": [{"name": r.name, "ok": r.ok, "detail": r.detail} for r in results]}
    return web.json_response(body, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition (docnode.metrics): store-backed gauges read at scrape time."""
    node = request.app[NODE]
    trust = node.verification.trust
    certificates = [("identity", node.signer.identity.certificate)]
    certificates += [("anchor", c) for c in trust.anchors]
    certificates += [("intermediate", c) for c in trust.intermediates]
    await request.app[METRICS].refresh(node.store, now=node.clock.now(),
                                       certificates=certificates)
    return metrics_response(request.app[METRICS])


def _start_workers(node: Node, *, dispatch: bool) -> None:
    if node.runtime is not None:
        node.runtime.start()  # broker link + outbox relay (amqp); closed by open_node
    if dispatch:
        node.dispatcher.start()
    node.scheduler.start()


def build_api_app(settings: Settings, *, clock: Clock = SYSTEM_CLOCK,
                  environ: Mapping[str, str] = os.environ,
                  dispatch: bool = True) -> web.Application:
    """The api listener's app; its cleanup_ctx owns the node's parts (rule 1).
    ``dispatch=False``: no dispatcher in this process (``docnode run --workers N``)."""
    app = web.Application()
    app[SETTINGS] = settings

    async def node_ctx(app: web.Application) -> AsyncIterator[None]:
        async with open_node(settings, clock=clock, environ=environ,
                             consume=dispatch) as node:
            app[NODE] = node
            yield

    async def direct_ctx(app: web.Application) -> AsyncIterator[None]:
        node = app[NODE]
        where = settings.listen.direct
        if where is None:  # rule 2: no direct listener
            yield
            return
        limits = settings.limits.to_limits()
        inner = direct_app(MeteredReceiver(node.service, app[METRICS]), limits=BodyLimits(
            max_body_bytes=limits.max_packet_bytes, max_decoded_bytes=limits.max_packet_bytes))
        lim = settings.limits
        install_rate_limits(inner, RateLimits(
            peer_rate_per_s=lim.peer_rate_per_s, peer_burst=lim.peer_burst,
            system_rate_per_s=lim.system_rate_per_s, system_burst=lim.system_burst))
        runner = web.AppRunner(inner, shutdown_timeout=LISTENER_SHUTDOWN_S, access_log=None,
                               **RUNNER_OPTIONS)  # type: ignore[arg-type]
        await runner.setup()
        ssl_ctx = None
        if settings.listen.tls_cert is not None and settings.listen.tls_key is not None:
            ssl_ctx = server_ssl_context(
                cert=settings.listen.tls_cert, key=settings.listen.tls_key,
                client_cas=(settings.listen.tls_client_ca,) if settings.listen.tls_client_ca
                else (),
                require_client_cert=settings.listen.tls_client_ca is not None,
                key_password=settings.identity.read_passphrase(environ),
            )
        site = web.TCPSite(runner, where.host, where.port, ssl_context=ssl_ctx,
                           reuse_address=True)
        await site.start()
        address = runner.addresses[0]
        node.direct_address = (str(address[0]), int(address[1]))
        log.info("direct_listening", host=address[0], port=address[1], tls=ssl_ctx is not None)
        try:
            yield
        finally:
            await runner.cleanup()

    async def workers_ctx(app: web.Application) -> AsyncIterator[None]:
        node = app[NODE]
        _start_workers(node, dispatch=dispatch)
        try:
            yield
        finally:
            node.scheduler.stop()
            if dispatch:
                await node.dispatcher.stop()

    app.cleanup_ctx.extend([node_ctx, direct_ctx, workers_ctx])
    app[METRICS] = NodeMetrics()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    mount_api(app, lambda: app[NODE])  # clerk API (/api), page (/page), webhook relay
    return app


async def serve(settings: Settings, *, stop: asyncio.Event | None = None,
                clock: Clock = SYSTEM_CLOCK, dispatch: bool = True) -> None:
    """Run the node until ``stop`` is set (or SIGTERM/SIGINT), then shut down gracefully."""
    if settings.node.role is Role.AXIS:
        from docnode.axis.runtime import run_axis_role

        await run_axis_role(settings, stop=stop)
        return
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = build_api_app(settings, clock=clock, dispatch=dispatch)
    runner = web.AppRunner(app, shutdown_timeout=LISTENER_SHUTDOWN_S, access_log=None)
    await runner.setup()
    try:
        if settings.listen.api is not None:
            site = web.TCPSite(runner, settings.listen.api.host, settings.listen.api.port,
                               reuse_address=True)
            await site.start()
        log.info("node_started", organ_ids=list(settings.node.organ_ids),
                 api=str(settings.listen.api), direct=str(settings.listen.direct),
                 started_at=datetime.now(UTC))
        await stop.wait()
        log.info("node_stopping")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        log.info("node_stopped")


def run_forever(settings: Settings) -> int:
    """``docnode run``: configure logging, serve until a signal, exit 0."""
    configure_logging(fmt=settings.logging.format.value, level=settings.logging.level.value.upper())
    asyncio.run(serve(settings))
    return 0
