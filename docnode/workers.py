"""``docnode run --workers N`` / ``--no-listen``: listeners and workers scaled separately
(DESIGN §6, issue 8).

Shapes of one ``docnode run`` process:
- default: listeners, dispatcher and scheduler in one process (one machine, SQLite);
- ``--workers N``: this process keeps the listeners and the scheduler (and relays the outbox)
  but does not dispatch; it starts N worker processes, each a dispatcher with no listener;
- ``--no-listen``: no listener at all; with ``--workers N`` it only supervises N workers
  (a worker machine), without it the process itself dispatches.
Any number of such processes on any number of machines may share one PostgreSQL store and
one RabbitMQ broker; cluster-wide jobs run once (:mod:`docnode.cluster`).

Rules:
1. A worker process is ``docnode run --worker-of PID`` with the same config: the dispatcher
   and scheduler of :func:`docnode.app.serve` with both listeners removed. It stops on
   SIGTERM, and by itself when its supervisor (PID) is gone, so a supervisor killed with
   ``kill -9`` leaves no orphans behind.
2. The supervisor restarts a worker that exits unexpectedly, after a backoff that grows while
   workers keep dying (a crash loop must not spin).
3. SIGTERM/SIGINT to the supervisor: it stops its own listeners and sends SIGTERM to every
   worker, waits for them (each is bounded by its dispatcher's grace), then kills stragglers.
   Work a killed worker held is not lost: its leases expire (``sql``) or the broker
   redelivers its unacknowledged messages (``amqp``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from pathlib import Path

from docnode.config import Role, Settings
from docnode.errors import UsageError
from docnode.logging import configure_logging, get_logger

log = get_logger("workers")

WORKER_ARGV = (sys.executable, "-c",
               "import sys; from docnode.cli import main; sys.exit(main())")
STOP_WAIT_S = 30.0
RESTART_MAX_S = 30.0


def without_listeners(settings: Settings) -> Settings:
    """The settings of a worker process: no direct and no api listener (rule 1)."""
    listen = dataclasses.replace(settings.listen, direct=None, api=None)
    return dataclasses.replace(settings, listen=listen)


def run_node(settings: Settings, config: Path, *, workers: int = 0, listen: bool = True,
             worker_of: int | None = None) -> int:
    """``docnode run`` in the shape chosen by the options (module docstring)."""
    if settings.node.role is Role.AXIS and (workers or not listen or worker_of is not None):
        # The axis role (docnode.axis.runtime) runs its own processes; it has no outbox
        # dispatch to spread over workers.
        raise UsageError("--workers and --no-listen apply to the agency role only")
    configure_logging(fmt=settings.logging.format.value,
                      level=settings.logging.level.value.upper())
    if worker_of is not None:
        asyncio.run(_worker(without_listeners(settings), worker_of))
    elif workers > 0:
        asyncio.run(_supervise(settings, config, workers=workers, listen=listen))
    else:
        from docnode.app import serve

        asyncio.run(serve(settings if listen else without_listeners(settings)))
    return 0


async def _worker(settings: Settings, parent: int) -> None:
    from docnode.app import serve

    stop = asyncio.Event()

    async def watch_parent() -> None:
        while os.getppid() == parent:
            await asyncio.sleep(1.0)
        log.warning("worker_orphaned", parent=parent)
        stop.set()

    watcher = asyncio.create_task(watch_parent())
    try:
        await serve(settings, stop=stop)
    finally:
        watcher.cancel()


async def _supervise(settings: Settings, config: Path, *, workers: int,
                     listen: bool) -> None:
    from docnode.app import serve

    stop = asyncio.Event()
    pool = WorkerPool(config, workers)
    await pool.start()
    try:
        if listen:
            # serve() handles SIGTERM/SIGINT by setting ``stop``.
            await serve(settings, stop=stop, dispatch=False)
        else:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            log.info("workers_started", workers=workers)
            await stop.wait()
    finally:
        await pool.stop()


class WorkerPool:
    """N supervised worker processes (rules 1-3)."""

    def __init__(self, config: Path, size: int) -> None:
        self._argv = (*WORKER_ARGV, "run", "-c", str(config), "--worker-of", str(os.getpid()))
        self._size = size
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs.values() if p.returncode is None]

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._keep(slot), name=f"docnode-worker-{slot}")
                       for slot in range(self._size)]

    async def _keep(self, slot: int) -> None:
        failures = 0
        while not self._stopping.is_set():
            proc = await asyncio.create_subprocess_exec(*self._argv)
            self._procs[slot] = proc
            log.info("worker_started", slot=slot, pid=proc.pid)
            code = await proc.wait()
            if self._stopping.is_set():
                return
            failures += 1
            delay = min(RESTART_MAX_S, 0.5 * 2 ** min(failures - 1, 10))
            log.warning("worker_exited", slot=slot, pid=proc.pid, code=code,
                        restart_in_s=delay)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        self._stopping.set()
        procs = [p for p in self._procs.values() if p.returncode is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), STOP_WAIT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        log.info("workers_stopped", count=len(procs))
