"""Workers that drain the outbox through the transports (DESIGN §4 Dispatch, §5).

Rules:
1. A packet is signed once, at submission. A worker sends the exact stored bytes; a retry
   never re-encodes, re-signs or mints a new DocumentId.
2. Success means a verified receipt (the transport's job): the outcome is recorded with its
   evidence — delivery row ``delivered``, event ``delivered`` with the receipt digest, outbox
   item done — in ONE store transaction (the :class:`OutcomeRecorder`).
3. ``PeerUnavailable`` (timeouts, connection errors, 5xx, 429, a receipt that does not hold)
   → next attempt after exponential backoff with FULL jitter (``uniform(0, min(cap,
   initial·2^(n-1)))``), never sooner than the peer's ``Retry-After``; past ``max_attempts``
   or ``max_age_s`` → ``expired`` and dead letter. ``PeerRejected`` and any other library
   error → ``failed`` with its reason, no retry. A bug (any other exception) is retried like
   a transient failure: losing a document to our own bug would be worse.
4. Every transition is an append-only event (written by the recorder in the same transaction).
5. Leases make crashes safe: an item leased by a worker that died is leased again when its
   lease expires (the queue's reaper), so at-least-once holds; the receiver's dedup gives
   exactly-once effect.
6. Shutdown: stop leasing, wait up to ``grace_s`` for in-flight sends, then cancel the rest
   and release their leases so that the next start (or another worker) takes them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from docnode.clock import Clock
from docnode.errors import PeerRejected, PeerUnavailable, spec_for
from docnode.logging import bind, get_logger
from docnode.transport.direct_client import Delivery

log = get_logger("dispatch")


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    max_attempts: int = 20
    """Attempts before an item expires into the dead letter."""
    backoff_initial_s: float = 1.0
    """Upper bound of the first retry delay."""
    backoff_max_s: float = 300.0
    """Cap of the retry delay."""
    max_age_s: float = 604800.0
    """Age (since submission) after which an undelivered item expires."""
    workers: int = 4
    """Concurrent sends per process."""
    lease_s: float = 60.0
    """How long a leased item stays invisible to other workers."""
    poll_interval_s: float = 1.0
    """Idle poll interval (a local submit wakes the workers at once)."""
    grace_s: float = 10.0
    """How long shutdown waits for in-flight sends."""


def backoff_delay(
    policy: DeliveryPolicy, attempts: int, *, rng: random.Random, retry_after: float | None
) -> float:
    """Seconds until the next try after ``attempts`` failed attempts (rule 3)."""
    ceiling = min(policy.backoff_max_s, policy.backoff_initial_s * 2 ** max(0, attempts - 1))
    delay = rng.uniform(0.0, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.backoff_max_s))
    return delay


@dataclass(frozen=True, slots=True)
class WorkItem:
    """A leased outbox item as the dispatcher sees it."""

    item_id: int
    document_id: str
    recipient: str
    attempts: int
    """Attempts made before this one."""
    created_at: datetime


class WorkSource(Protocol):
    """The durable queue (``docnode.queue``) seen from a worker."""

    async def lease(self, *, limit: int, lease_s: float, now: datetime) -> Sequence[WorkItem]: ...

    async def release(self, item_ids: Sequence[int]) -> None: ...


class Sender(Protocol):
    async def send(self, item: WorkItem) -> Delivery:
        """Deliver the item's stored packet on its route; raise PeerUnavailable/PeerRejected."""
        ...


class OutcomeRecorder(Protocol):
    """Records one attempt's outcome with its event, in one transaction each (rules 2, 4)."""

    async def delivered(self, item: WorkItem, delivery: Delivery, *, at: datetime) -> None: ...

    async def retry(
        self,
        item: WorkItem,
        *,
        error: str,
        detail: dict[str, object],
        next_at: datetime,
        at: datetime,
    ) -> None: ...

    async def failed(
        self, item: WorkItem, *, reason: str, detail: dict[str, object], at: datetime
    ) -> None: ...

    async def expired(
        self, item: WorkItem, *, reason: str, detail: dict[str, object], at: datetime
    ) -> None: ...


class Dispatcher:
    """A pool of workers leasing and sending outbox items."""

    def __init__(
        self,
        *,
        source: WorkSource,
        sender: Sender,
        recorder: OutcomeRecorder,
        policy: DeliveryPolicy,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> None:
        self._source = source
        self._sender = sender
        self._recorder = recorder
        self._policy = policy
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._inflight: dict[int, asyncio.Task[None]] = {}

    def wake(self) -> None:
        """New work was queued in this process: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="docnode-dispatch")

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    async def _run(self) -> None:
        while not self._stopping:
            # Clear before leasing: a wake() arriving during the lease stays set, so no
            # submission waits a whole poll interval for nothing.
            self._wake.clear()
            free = self._policy.workers - len(self._inflight)
            items: Sequence[WorkItem] = ()
            if free > 0:
                try:
                    items = await self._source.lease(
                        limit=free, lease_s=self._policy.lease_s, now=self._clock.now()
                    )
                except Exception:
                    log.exception("lease_failed")
            for item in items:
                task = asyncio.create_task(self._attempt(item), name=f"send-{item.item_id}")
                self._inflight[item.item_id] = task
                task.add_done_callback(self._done(item.item_id))
            if not items or len(self._inflight) >= self._policy.workers:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._policy.poll_interval_s)

    def _done(self, item_id: int) -> Callable[[asyncio.Task[None]], None]:
        def callback(_task: asyncio.Task[None]) -> None:
            self._inflight.pop(item_id, None)
            self._wake.set()

        return callback

    async def _attempt(self, item: WorkItem) -> None:
        with bind(document_id=item.document_id, organ_id=item.recipient):
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
                detail = {"error": getattr(exc, "message", spec.code)}
                if spec.code != "internal_error" and not spec.retryable:
                    await self._permanent(item, spec.code, detail)
                else:
                    log.exception("send_crashed")
                    await self._transient(item, spec.code, detail, None)
            else:
                await self._record(
                    "delivered",
                    self._recorder.delivered(item, delivery, at=self._clock.now()),
                )
                log.info(
                    "delivered",
                    receipt_sha256=delivery.evidence.receipt_sha256,
                    attempts=item.attempts + 1,
                    duplicate=delivery.duplicate,
                )

    async def _transient(
        self, item: WorkItem, code: str, detail: dict[str, object], retry_after: float | None
    ) -> None:
        now = self._clock.now()
        attempts = item.attempts + 1
        age = (now - item.created_at).total_seconds()
        if attempts >= self._policy.max_attempts or age >= self._policy.max_age_s:
            why = "max_attempts" if attempts >= self._policy.max_attempts else "max_age"
            log.warning("expired", code=code, attempts=attempts, why=why)
            await self._record(
                "expired",
                self._recorder.expired(
                    item, reason=why, detail={**detail, "last_error": code}, at=now
                ),
            )
            return
        delay = backoff_delay(self._policy, attempts, rng=self._rng, retry_after=retry_after)
        log.info("retry_scheduled", code=code, attempts=attempts, delay_s=round(delay, 3))
        await self._record(
            "retry",
            self._recorder.retry(
                item, error=code, detail=detail, next_at=now + timedelta(seconds=delay), at=now
            ),
        )

    async def _permanent(self, item: WorkItem, code: str, detail: dict[str, object]) -> None:
        log.warning("failed", code=code, **{k: v for k, v in detail.items() if k != "code"})
        await self._record(
            "failed",
            self._recorder.failed(
                item,
                reason=str(detail.get("peer_code", code)),
                detail={**detail, "code": code},
                at=self._clock.now(),
            ),
        )

    async def _record(self, what: str, op: Awaitable[None]) -> None:
        # If the store cannot record the outcome, the lease runs out and the item is tried
        # again (rule 5); the receiver's dedup makes the repeat harmless.
        try:
            await op
        except Exception:
            log.exception("record_failed", outcome=what)

    async def stop(self) -> None:
        """Rule 6: stop leasing, wait ``grace_s``, cancel and release the rest."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        pending = list(self._inflight.items())
        if pending:
            _done, still = await asyncio.wait([t for _, t in pending], timeout=self._policy.grace_s)
            unfinished = [item_id for item_id, t in pending if t in still]
            for task in still:
                task.cancel()
            await asyncio.gather(*still, return_exceptions=True)
            if unfinished:
                try:
                    await self._source.release(unfinished)
                except Exception:
                    log.exception("release_failed")
        log.info("dispatcher_stopped")
