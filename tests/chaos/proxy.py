"""A fault-injecting TCP proxy (test-only): seeded, in its own thread and event loop so that
the test's blocking calls (starting a node, waiting for it) never stall the traffic.

Each accepted connection draws one fate from the seeded RNG:
- ``pass``: bytes flow both ways untouched;
- ``delay``: every chunk, both ways, waits a random 0-``max_delay_s`` first;
- ``drop``: the connection is closed at once, nothing reaches the upstream;
- ``truncate``: the request goes through, the response is cut after a random number of bytes;
- ``reset``: after a random number of request bytes both sides are reset (RST, SO_LINGER 0).
Counts per fate are kept so that a test can show the faults really happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

FATES = ("pass", "delay", "drop", "truncate", "reset")
CHUNK = 16 * 1024


@dataclass
class FaultPlan:
    weights: Mapping[str, float] = field(default_factory=lambda: {
        "pass": 0.55, "delay": 0.2, "drop": 0.08, "truncate": 0.1, "reset": 0.07})
    max_delay_s: float = 0.2


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class ChaosProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, seed: int,
                 plan: FaultPlan | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.plan = plan or FaultPlan()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.fates: Counter[str] = Counter()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-proxy", daemon=True)

    # --- lifecycle (called from the test's thread) ---------------------------------------

    def start(self) -> ChaosProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)

    def set_upstream(self, host: str, port: int) -> None:
        self.upstream = (host, port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    # --- one connection ------------------------------------------------------------------

    def _draw(self) -> tuple[str, float, int]:
        with self._lock:
            names = list(self.plan.weights)
            fate = self._rng.choices(names, [self.plan.weights[n] for n in names])[0]
            self.fates[fate] += 1
            return fate, self._rng.random(), self._rng.randint(1, 4096)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        fate, u, cut = self._draw()
        if fate == "drop":
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _reset(writer)
            return
        delay = u * self.plan.max_delay_s if fate == "delay" else 0.0
        budget = [cut]

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, *,
                       limit: bool, request: bool) -> None:
            try:
                while data := await src.read(CHUNK):
                    if delay:
                        await asyncio.sleep(delay)
                    if limit:
                        if len(data) >= budget[0]:
                            dst.write(data[: budget[0]])
                            await dst.drain()
                            if fate == "reset":
                                _reset(dst)
                                _reset(writer if request else up_writer)
                            else:
                                dst.close()
                                writer.close()
                            return
                        budget[0] -= len(data)
                    dst.write(data)
                    await dst.drain()
                if dst.can_write_eof():
                    dst.write_eof()
            except (OSError, asyncio.IncompleteReadError):
                dst.transport.abort()

        await asyncio.gather(
            pump(reader, up_writer, limit=fate == "reset", request=True),
            pump(up_reader, writer, limit=fate == "truncate", request=False),
            return_exceptions=True,
        )
        for w in (writer, up_writer):
            w.close()
