"""Periodic jobs of a running node on apscheduler 3.x's ``AsyncIOScheduler`` (DESIGN §3).

Rules:
1. A job is a small async callable with a name and an interval; the scheduler knows nothing of
   what it does. ``app.py`` picks the jobs for the role (retry sweep / lease reaper,
   housekeeping, certificate expiry warnings; axis polling later).
2. One instance per job at a time (``max_instances=1``), missed runs coalesce: a slow sweep is
   not stacked up behind itself.
3. A job that raises is logged and runs again at its next tick; it never stops the scheduler.
4. Jobs run on the node's event loop; anything CPU-heavy in them goes through ``offload``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from docnode.logging import get_logger

log = get_logger("scheduler")


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    """Stable job id (log lines, metrics)."""
    func: Callable[[], Awaitable[None]]
    """What to run."""
    interval_s: float
    """Seconds between runs."""
    run_at_start: bool = False
    """Run once right after start instead of waiting one interval."""


class Scheduler:
    """Owns the ``AsyncIOScheduler`` (started and shut down by ``app.py``'s cleanup_ctx)."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self._jobs = tuple(jobs)
        self._scheduler: AsyncIOScheduler | None = None

    @property
    def jobs(self) -> tuple[Job, ...]:
        return self._jobs

    def start(self) -> None:
        """Start on the running event loop (call from a coroutine)."""
        import asyncio
        from datetime import UTC, datetime

        scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        for job in self._jobs:
            # apscheduler reads an explicit ``next_run_time=None`` as "paused": only pass it
            # when the job should run right away.
            extra = {"next_run_time": datetime.now(UTC)} if job.run_at_start else {}
            scheduler.add_job(
                _guarded(job),
                "interval",
                seconds=job.interval_s,
                id=job.name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                **extra,
            )
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler_started", jobs=[j.name for j in self._jobs])

    def stop(self) -> None:
        """Stop scheduling; running job coroutines finish on the loop by themselves."""
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None


def _guarded(job: Job) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await job.func()
        except Exception:
            log.exception("job_failed", job=job.name)

    run.__name__ = f"job_{job.name}"
    return run
