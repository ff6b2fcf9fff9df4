"""Running an axis: its parts built in one place, its listener started and stopped.

Rules:
1. ``docnode axis serve --data DIR`` needs no config file: the store is
   ``DIR/axis.sqlite3`` (migrated to the newest schema, which holds the axis tables), blobs live
   in ``DIR/blobs``, the master key in ``DIR/master.key`` or ``DOCNODE_AXIS_MASTER_KEY``.
   ``role = "axis"`` in a node config uses the node's ``[store]`` instead, listens on
   ``[listen] direct`` and applies the config's ``[[axis_systems]]`` registry at every start
   (``docnode.axis.registry``), before the first request is served.
2. Whoever opens the parts closes them (:func:`open_axis` is a context manager).
3. The listener's shutdown is graceful and bounded; SIGTERM/SIGINT start it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from docnode.axis.hub import DEFAULT_AXIS_POLICY, AxisHub, AxisPolicy
from docnode.axis.registry import apply_config_registry
from docnode.axis.secrets import SecretSealer, load_master_key
from docnode.clock import SYSTEM_CLOCK, Clock
from docnode.config import AxisSystemSettings, HostPort, Settings, SqliteSynchronous
from docnode.errors import ConfigInvalid
from docnode.logging import get_logger
from docnode.offload import Offloader
from docnode.ratelimit import RateLimits
from docnode.store import Store
from docnode.transport.vxp_server import build_vxp_app
from docnode.verification import VerificationContext

log = get_logger("axis")

DB_NAME = "axis.sqlite3"
SHUTDOWN_S = 15.0
HOUSEKEEPING_S = 3600.0
SEEN_RETENTION = timedelta(days=30)
"""How long a sendEdoc's HMAC stays in the replay cache (see ``AxisHub.prune_seen``)."""


@dataclass(frozen=True, slots=True)
class AxisLocation:
    """Where an axis keeps its state."""

    store_url: str
    blobs_dir: Path
    key_dir: Path
    """Folder of ``master.key`` (when the key does not come from the environment)."""

    @classmethod
    def in_dir(cls, data_dir: Path) -> AxisLocation:
        data_dir = data_dir.resolve()
        return cls(f"sqlite:///{data_dir / DB_NAME}", data_dir / "blobs", data_dir)


@dataclass
class AxisParts:
    store: Store
    hub: AxisHub
    offloader: Offloader


@asynccontextmanager
async def open_axis(
    location: AxisLocation,
    *,
    verification: VerificationContext,
    environ: Mapping[str, str],
    policy: AxisPolicy = DEFAULT_AXIS_POLICY,
    clock: Clock = SYSTEM_CLOCK,
    create_key: bool = False,
    registry: Sequence[AxisSystemSettings] = (),
) -> AsyncIterator[AxisParts]:
    """Store, sealer, offloader and hub of one axis (rule 2); the config's registry applied
    (rule 1), then the secrets loaded."""
    location.key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    sealer = SecretSealer(load_master_key(location.key_dir, environ, create=create_key))
    store = await Store.open(location.store_url, location.blobs_dir,
                             synchronous=SqliteSynchronous.FULL)
    offloader = Offloader()
    try:
        if registry:
            await apply_config_registry(store, sealer, registry, environ=environ,
                                        now=clock.now())
        hub = AxisHub(store=store, sealer=sealer, verification=verification, clock=clock,
                      offloader=offloader, policy=policy)
        await hub.load_secrets()
        yield AxisParts(store, hub, offloader)
    finally:
        await store.close()
        offloader.close(wait=False)


async def serve_axis(
    parts: AxisParts,
    listen: HostPort,
    *,
    max_packet_bytes: int,
    stop: asyncio.Event,
    on_started: Callable[[tuple[str, int]], None] | None = None,
    rate_limits: RateLimits | None = None,
) -> None:
    """Serve VXP on ``listen`` until ``stop`` is set (rule 3)."""
    app = build_vxp_app(parts.hub, max_packet_bytes=max_packet_bytes, rate_limits=rate_limits)
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_S, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, listen.host, listen.port, reuse_address=True)
        await site.start()
        address = runner.addresses[0]
        bound = (str(address[0]), int(address[1]))
        log.info("axis_listening", host=bound[0], port=bound[1])
        if on_started is not None:
            on_started(bound)
        housekeeping = asyncio.create_task(_housekeeping(parts, stop), name="axis-housekeeping")
        await stop.wait()
        await housekeeping
    finally:
        await runner.cleanup()
        log.info("axis_stopped")


async def _housekeeping(parts: AxisParts, stop: asyncio.Event) -> None:
    """Once an hour: prune the replay cache (entries older than ``SEEN_RETENTION``) and the
    client timestamps unused for their retention."""
    while not stop.is_set():
        try:
            pruned = await parts.hub.prune_seen(older_than=SEEN_RETENTION)
            if pruned:
                log.info("axis_replay_cache_pruned", entries=pruned)
            forgotten = await parts.hub.timestamps.prune()
            if forgotten:
                log.info("axis_client_timestamps_pruned", entries=forgotten)
        except Exception:  # a failed sweep is retried at the next tick; serving goes on
            log.exception("axis_housekeeping_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), HOUSEKEEPING_S)


async def run_until_signal(
    parts: AxisParts, listen: HostPort, *, max_packet_bytes: int,
    on_started: Callable[[tuple[str, int]], None] | None = None,
    rate_limits: RateLimits | None = None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve_axis(parts, listen, max_packet_bytes=max_packet_bytes, stop=stop,
                         on_started=on_started, rate_limits=rate_limits)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def location_of(settings: Settings) -> AxisLocation:
    """Where an axis run from a node config keeps its state (rule 1)."""
    return AxisLocation(settings.store.url, settings.store.blobs_dir, settings.node.data_dir)


async def run_axis_role(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """``docnode run`` with ``role = "axis"`` (rule 1): the node's ``[store]``, ``[trust]``
    and ``[limits]``, VXP served on ``[listen] direct``; client systems come from the config's
    ``[[axis_systems]]`` and/or ``docnode axis register-system -c CONFIG`` (master key in
    ``data_dir`` or the env)."""
    from docnode.verification import context_from_settings

    listen = settings.listen.direct
    if listen is None:
        raise ConfigInvalid(['[listen] direct: the axis role serves VXP there; set it'])
    location = location_of(settings)
    verification = context_from_settings(settings)
    limits = settings.limits.to_limits()
    lim = settings.limits
    rates = RateLimits(peer_rate_per_s=lim.peer_rate_per_s, peer_burst=lim.peer_burst,
                       system_rate_per_s=lim.system_rate_per_s, system_burst=lim.system_burst)
    async with open_axis(location, verification=verification, environ=os.environ,
                         registry=settings.axis_systems, create_key=bool(settings.axis_systems)
                         ) as parts:
        if stop is None:
            await run_until_signal(parts, listen, max_packet_bytes=limits.max_packet_bytes,
                                   rate_limits=rates)
        else:
            await serve_axis(parts, listen, max_packet_bytes=limits.max_packet_bytes, stop=stop,
                             rate_limits=rates)
