"""The queue's values and its backend protocol (rules in :mod:`docnode.queue`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from docnode.config.settings import DeliverySettings
from docnode.store import Transaction, WorkKind
from docnode.store.sync_tx import SyncTransaction


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One claimed work item (a snapshot taken at claim time)."""

    id: int
    kind: WorkKind
    ref: str
    """Row id to act on (a delivery id for ``deliver_*``)."""
    attempts: int
    """Claims so far, this one included (1 on the first try)."""
    lease_owner: str
    lease_token: int
    """Proof of this lease; finishing calls must present it (rule 3)."""
    lease_expires_at: datetime
    created_at: datetime
    """When the item was enqueued (its age decides ``max_age_s``)."""
    last_error: str | None


class RetryDecision(StrEnum):
    """What :meth:`Queue.retry` did with an item."""

    SCHEDULED = "scheduled"
    """Back to ready, due after the delay."""
    MAX_ATTEMPTS = "max_attempts"
    """Dead-lettered: attempts used up (the delivery becomes ``dead_lettered``)."""
    MAX_AGE = "max_age"
    """Dead-lettered: the next try would be past ``max_age_s`` (``expired``)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds on retrying one item ([delivery] in the config)."""

    max_attempts: int = 20
    max_age_s: float = 604800.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0

    @classmethod
    def from_settings(cls, delivery: DeliverySettings) -> RetryPolicy:
        return cls(max_attempts=delivery.max_attempts, max_age_s=delivery.max_age_s,
                   backoff_initial_s=delivery.backoff_initial_s,
                   backoff_max_s=delivery.backoff_max_s)

    def delay(self, attempts: int, jitter: float) -> float:
        """Backoff before the next try after ``attempts`` tries: exponential from
        ``backoff_initial_s``, capped at ``backoff_max_s``, with "equal jitter" — half fixed,
        half scaled by ``jitter`` in [0, 1) (the caller's random number)."""
        base = min(self.backoff_max_s, self.backoff_initial_s * 2.0 ** max(0, attempts - 1))
        return base / 2 + base / 2 * min(max(jitter, 0.0), 1.0)

    def decide(self, item: QueueItem, *, delay_s: float, now: datetime) -> RetryDecision:
        """Whether ``item`` may be tried again after ``delay_s``."""
        if item.attempts >= self.max_attempts:
            return RetryDecision.MAX_ATTEMPTS
        if (now - item.created_at).total_seconds() + delay_s > self.max_age_s:
            return RetryDecision.MAX_AGE
        return RetryDecision.SCHEDULED

    def exhausted(self, item: QueueItem, *, now: datetime) -> RetryDecision | None:
        """For an item claimed again after a crash: already past its bounds? (Then the
        worker dead-letters it instead of sending.)"""
        if item.attempts > self.max_attempts:
            return RetryDecision.MAX_ATTEMPTS
        if (now - item.created_at).total_seconds() > self.max_age_s:
            return RetryDecision.MAX_AGE
        return None


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Queue depth for metrics and ``/readyz``."""

    ready: int
    """Items waiting (due now or later)."""
    due: int
    """Ready items whose time has come."""
    leased: int
    dead: int
    oldest_age_s: float
    """Age of the oldest live (ready or leased) item; 0 when there is none."""


class Queue(Protocol):
    """What the dispatcher needs from a queue backend (``sql`` now, ``amqp`` later)."""

    async def claim(self, worker_id: str, *, limit: int, lease_s: float,
                    now: datetime) -> Sequence[QueueItem]:
        """Lease up to ``limit`` due items (or items whose lease expired) to ``worker_id``
        for ``lease_s`` seconds, oldest due first."""
        ...

    async def complete(self, item: QueueItem, *, tx: Transaction) -> None:
        """Remove a finished item, in ``tx``. Raises ``LeaseLost``."""
        ...

    def complete_sync(self, item: QueueItem, *, tx: SyncTransaction) -> None:
        """:meth:`complete` inside a synchronous unit (``docnode.group_commit``)."""
        ...

    async def retry(self, item: QueueItem, *, tx: Transaction, error: str, now: datetime,
                    delay_s: float | None = None) -> RetryDecision:
        """Schedule another try after ``delay_s`` (default: the policy's backoff), or
        dead-letter the item when the policy says so. In ``tx``; raises ``LeaseLost``."""
        ...

    async def dead_letter(self, item: QueueItem, *, tx: Transaction, error: str,
                          now: datetime) -> None:
        """Park an item for good (permanent failure or bounds exceeded). Raises
        ``LeaseLost``."""
        ...

    async def extend(self, item: QueueItem, *, lease_s: float, now: datetime) -> QueueItem:
        """Renew a lease for a long send; returns the item with its new expiry. Raises
        ``LeaseLost``."""
        ...

    async def release(self, worker_id: str, *, now: datetime) -> int:
        """Give back every item ``worker_id`` holds, due at once and without counting the
        attempt (graceful shutdown). Returns how many."""
        ...

    async def stats(self, *, now: datetime) -> QueueStats:
        """Depth and age of the oldest item."""
        ...
