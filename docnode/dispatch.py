"""Workers that drain the outbox through the transports (DESIGN §4 Dispatch, §5).

Rules:
1. A packet is signed once, at submission. A worker sends the exact stored bytes; a retry
   never re-encodes, re-signs or mints a new DocumentId.
2. Success means a verified receipt (the transport's job). The outcome — delivery row, event
   with the evidence, queue item finished — is written in ONE store transaction by the
   :class:`OutcomeRecorder` (the queue's ``complete``/``retry``/``dead_letter`` take that
   transaction), so the queue and the delivery never disagree.
3. ``PeerUnavailable`` (timeouts, connection errors, 5xx, 429, a receipt that does not hold)
   → next try after exponential backoff with FULL jitter, ``uniform(0, min(cap, initial ·
   2^(n-1)))``, never sooner than the peer's ``Retry-After``; the queue's policy turns it into
   ``dead_lettered`` (max attempts) or ``expired`` (max age). ``PeerRejected`` and any other
   non-retryable library error → ``failed`` with the reason, no retry. A bug (any other
   exception) is retried like a transient failure: losing a document to our own bug would be
   worse than trying again.
4. Every transition is an append-only event (the recorder writes it in the same transaction).
5. Leases make crashes safe: an item held by a worker that died is claimed again when its
   lease expires, so delivery is at-least-once; the receiver's dedup makes it exactly-once in
   effect. An item claimed again after a crash that is already past its bounds is given up
   without sending.
6. Shutdown: stop claiming, wait up to ``grace_s`` for in-flight sends, cancel the rest and
   release this worker's leases so that the next start takes them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from docnode.clock import Clock
from docnode.errors import LeaseLost, PeerRejected, PeerUnavailable, spec_for
from docnode.logging import get_logger
from docnode.queue import Queue, QueueItem, RetryDecision, RetryPolicy
from docnode.transport.direct_client import Delivery

log = get_logger("dispatch")


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    workers: int = 4
    """Concurrent sends per process."""
    lease_s: float = 60.0
    """How long a claimed item stays invisible to other workers."""
    poll_min_s: float = 0.05
    """Poll interval right after work was found. Work queued by another process (``docnode
    send``, a second node process) is only seen by polling; a local commit wakes at once."""
    poll_max_s: float = 1.0
    """Idle poll interval: the interval doubles after each empty claim up to this."""
    grace_s: float = 10.0
    """How long shutdown waits for in-flight sends."""


def backoff_delay(
    policy: RetryPolicy, attempts: int, *, rng: random.Random, retry_after: float | None
) -> float:
    """Seconds until the next try after ``attempts`` tries (rule 3, full jitter)."""
    ceiling = min(policy.backoff_max_s, policy.backoff_initial_s * 2.0 ** max(0, attempts - 1))
    delay = rng.uniform(0.0, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.backoff_max_s))
    return delay


class ItemSender(Protocol):
    async def send(self, item: QueueItem) -> Delivery:
        """Deliver the item's stored packet on its route; raise PeerUnavailable/PeerRejected."""
        ...


class OutcomeRecorder(Protocol):
    """Writes one attempt's outcome with its event and the queue's change, in one
    transaction each (rules 2, 4)."""

    async def delivered(self, item: QueueItem, delivery: Delivery, *, now: datetime) -> None: ...

    async def retry(
        self, item: QueueItem, *, error: str, detail: dict[str, object], delay_s: float,
        now: datetime,
    ) -> RetryDecision: ...

    async def failed(
        self, item: QueueItem, *, error: str, detail: dict[str, object], now: datetime
    ) -> None: ...

    async def gave_up(
        self, item: QueueItem, *, decision: RetryDecision, error: str, now: datetime
    ) -> None: ...


def worker_id() -> str:
    """A worker identity unique across hosts, processes and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{random.getrandbits(32):08x}"


class Dispatcher:
    """A pool of concurrent sends fed by claims on the queue."""

    def __init__(
        self,
        *,
        queue: Queue,
        retry_policy: RetryPolicy,
        sender: ItemSender,
        recorder: OutcomeRecorder,
        policy: DispatchPolicy,
        clock: Clock,
        rng: random.Random | None = None,
        worker: str | None = None,
    ) -> None:
        self._queue = queue
        self._retry = retry_policy
        self._sender = sender
        self._recorder = recorder
        self._policy = policy
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.worker = worker or worker_id()
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._inflight: dict[int, asyncio.Task[None]] = {}

    def wake(self) -> None:
        """Work was queued in this process: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="docnode-dispatch")

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    async def _run(self) -> None:
        interval = self._policy.poll_min_s
        while not self._stopping:
            # Clear before claiming: a wake() arriving during the claim stays set.
            self._wake.clear()
            free = self._policy.workers - len(self._inflight)
            items: list[QueueItem] = []
            if free > 0:
                try:
                    items = list(await self._queue.claim(
                        self.worker, limit=free, lease_s=self._policy.lease_s,
                        now=self._clock.now()))
                except Exception:
                    log.exception("claim_failed")
            for item in items:
                task = asyncio.create_task(self._attempt(item), name=f"send-{item.id}")
                self._inflight[item.id] = task
                task.add_done_callback(self._done(item.id))
            if items:
                interval = self._policy.poll_min_s
            elif free > 0:
                interval = min(self._policy.poll_max_s, interval * 2)
            if not items or len(self._inflight) >= self._policy.workers:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), interval)

    def _done(self, item_id: int) -> Callable[[asyncio.Task[None]], None]:
        def callback(_task: asyncio.Task[None]) -> None:
            self._inflight.pop(item_id, None)
            self._wake.set()

        return callback

    async def _attempt(self, item: QueueItem) -> None:
        now = self._clock.now()
        exhausted = self._retry.exhausted(item, now=now)
        if exhausted is not None:
            await self._record("gave_up", self._recorder.gave_up(
                item, decision=exhausted, error=item.last_error or "crashed", now=now))
            return
        try:
            delivery = await self._sender.send(item)
        except PeerUnavailable as exc:
            await self._transient(item, exc.code, exc.detail, exc.retry_after)
        except PeerRejected as exc:
            await self._permanent(item, exc.code, exc.detail)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            spec = spec_for(exc)
            detail: dict[str, object] = {"error": getattr(exc, "message", spec.code)}
            if spec.code != "internal_error" and not spec.retryable:
                await self._permanent(item, spec.code, detail)
            else:
                log.exception("send_crashed", item=item.id)
                await self._transient(item, spec.code, detail, None)
        else:
            await self._record("delivered", self._recorder.delivered(
                item, delivery, now=self._clock.now()))

    async def _transient(
        self, item: QueueItem, code: str, detail: dict[str, object], retry_after: float | None
    ) -> None:
        delay = backoff_delay(self._retry, item.attempts, rng=self._rng, retry_after=retry_after)
        await self._record("retry", self._recorder.retry(
            item, error=code, detail=detail, delay_s=delay, now=self._clock.now()))

    async def _permanent(self, item: QueueItem, code: str, detail: dict[str, object]) -> None:
        await self._record("failed", self._recorder.failed(
            item, error=code, detail=detail, now=self._clock.now()))

    async def _record(self, what: str, op: Awaitable[object]) -> None:
        # If the outcome cannot be written, the lease runs out and the item is tried again
        # (rule 5); the receiver's dedup makes the repeat harmless.
        try:
            await op
        except LeaseLost:
            log.warning("lease_lost", outcome=what)
        except Exception:
            log.exception("record_failed", outcome=what)

    async def stop(self) -> None:
        """Rule 6: stop claiming, wait ``grace_s``, cancel and release the rest."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        pending = list(self._inflight.values())
        if pending:
            _done, still = await asyncio.wait(pending, timeout=self._policy.grace_s)
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
        try:
            released = await self._queue.release(self.worker, now=self._clock.now())
        except Exception:
            log.exception("release_failed")
        else:
            log.info("dispatcher_stopped", released=released)
