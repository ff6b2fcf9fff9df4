"""The ONE door through which CPU-heavy work leaves the event loop (DESIGN §3, STYLE §6).

Signing, verifying and parsing packets is pure CPU in lxml and OpenSSL (via cryptography).
Done on the event loop it would stall every other connection for the duration, so the daemon
sends it here. Two executors, chosen by the size of the input:

* **threads** for inputs below ``process_threshold`` (8 MiB by default). A 2-10 KB
  packet signs or verifies in about a millisecond; shipping it to another process (pickle the
  bytes, the key PEM and the result, a pipe round trip) would cost as much as the work, and
  the trust store's path-validation cache lives in this process. lxml and OpenSSL release the
  GIL for part of the work, and, above all, the loop stays responsive.
* **processes** for large inputs. A 10-64 MB packet takes seconds of CPU and several times its
  size in memory; in a worker process it uses another core and its peak memory is returned to
  the OS when the job ends, instead of fragmenting the daemon's heap. Functions sent there
  must be picklable top-level functions (``envelopes.offload`` provides them). The pool is
  created lazily, so a node that never sees a large packet never starts one; it uses the
  ``forkserver`` method (a threaded daemon must not ``fork``), which re-imports ``__main__``
  in the children: a script using the pool needs the ``if __name__ == "__main__"`` guard.
  Up to a few MB the pickling round trip costs more than it saves, hence the threshold.

Set ``processes=0`` to keep everything in threads (tests, tiny deployments).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_PROCESS_THRESHOLD = 8 * 1024 * 1024
"""Inputs at least this large (bytes) go to the process pool when it is enabled."""


class Offloader:
    """Runs blocking callables in a thread or process pool and awaits the result."""

    def __init__(
        self,
        *,
        threads: int | None = None,
        processes: int | None = None,
        process_threshold: int = DEFAULT_PROCESS_THRESHOLD,
    ) -> None:
        cpus = os.cpu_count() or 1
        self._threads = ThreadPoolExecutor(
            max_workers=threads if threads is not None else max(4, cpus * 2),
            thread_name_prefix="docnode-cpu",
        )
        self._max_processes = processes if processes is not None else max(1, cpus - 1)
        self._processes: ProcessPoolExecutor | None = None
        self.process_threshold = process_threshold
        self._closed = False

    def _process_pool(self) -> Executor:
        if self._max_processes <= 0:
            return self._threads
        if self._processes is None:
            # forkserver, not fork: the daemon has threads (executor, aiosqlite) by the time
            # a large packet arrives, and forking a threaded process can deadlock the child.
            self._processes = ProcessPoolExecutor(
                max_workers=self._max_processes,
                mp_context=multiprocessing.get_context("forkserver"),
            )
        return self._processes

    async def in_thread(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` in the thread pool (context variables such as log fields carried)."""
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        call = functools.partial(ctx.run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._threads, call)

    async def in_process(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a picklable top-level ``fn`` in the process pool (threads when disabled)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._process_pool(), functools.partial(fn, *args, **kwargs)
        )

    async def run(self, size: int, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` off the loop, in a process when ``size`` reaches the threshold."""
        if size >= self.process_threshold and self._max_processes > 0:
            return await self.in_process(fn, *args, **kwargs)
        return await self.in_thread(fn, *args, **kwargs)

    def close(self, *, wait: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        self._threads.shutdown(wait=wait, cancel_futures=not wait)
        if self._processes is not None:
            self._processes.shutdown(wait=wait, cancel_futures=not wait)
