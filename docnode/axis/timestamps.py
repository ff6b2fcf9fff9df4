"""The request timestamp window of the axis, made to live with the SDK's fixed timestamp.

The VNPT SDK computes ``timestamp`` once, when its service object is created, and signs that
same value on every later request of the object (spec/vxp-test-vectors.md §2.1): a long-lived
client's timestamp grows hours or days old while its requests are genuine. So the age of a
timestamp alone never refuses a request the axis has accepted that timestamp for before.

Rules:
1. A timestamp a system has not used before must be fresh: within ``window`` of the axis's
   clock. Its value carries no zone (the client's local time), so every offset from UTC-12 to
   UTC+14 is allowed for, on top of the window. Outside it: ``stale_timestamp``.
2. A fresh timestamp used a second time is kept (``axis_client_timestamps``): later requests
   with it are accepted whatever its age; replays are the seen-request cache's and the HMAC's
   concern (the HMAC covers the body's hash on sendEdoc). A timestamp used once is only
   remembered in memory, so clients with a fresh timestamp per call (our client, an SDK
   object per call) cost no write; an SDK object must therefore make its second call while
   its timestamp is still fresh — a long-lived one does so at once.
3. A kept timestamp unused for ``retention`` is forgotten (housekeeping, like the replay
   cache); ``last_seen`` is written at most once per ``touch_every`` so polls stay read-only.
4. ``window = None`` switches the check off (spec §2.1 taken literally: never refuse on age).
5. A timestamp that is neither the SDK's ``ddMMyyyy'T'HHmmss+SSSS`` nor ISO 8601 cannot be
   placed in time: ``axis_request_invalid`` while the window is on.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col

from docnode import errors
from docnode.axis.tables import AxisClientTimestamp
from docnode.clock import Clock
from docnode.logging import get_logger
from docnode.store import Store

log = get_logger("axis.timestamps")

DEFAULT_WINDOW = timedelta(hours=24)
DEFAULT_RETENTION = timedelta(days=30)
TOUCH_EVERY = timedelta(hours=12)
EARLIEST_OFFSET = timedelta(hours=-12)
LATEST_OFFSET = timedelta(hours=14)
_SDK = re.compile(r"^(\d{2})(\d{2})(\d{4})T(\d{2})(\d{2})(\d{2})\+(\d{4})$")
_MEMORY_LIMIT = 100_000


def parse_client_timestamp(text: str) -> datetime | None:
    """The wall-clock time a client wrote (naive when it gave no zone), or ``None``."""
    m = _SDK.match(text)
    if m:
        day, month, year, hour, minute, second, millis = (int(g) for g in m.groups())
        try:
            return datetime(year, month, day, hour, minute, second, min(millis, 999) * 1000)
        except ValueError:
            return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def is_fresh(written: datetime, now: datetime, window: timedelta) -> bool:
    """Rule 1: could ``written`` be within ``window`` of ``now`` (aware) at some zone?"""
    if written.tzinfo is not None:
        return abs(now - written) <= window
    naive_utc = now.replace(tzinfo=None) - (now.utcoffset() or timedelta(0))
    # ``written`` in zone UTC+o is the instant written - o: from written-14h to written+12h.
    earliest, latest = written - LATEST_OFFSET, written - EARLIEST_OFFSET
    return earliest - window <= naive_utc <= latest + window


class ClientTimestamps:
    """Rules 1-4 over the axis store."""

    def __init__(self, store: Store, clock: Clock, *, window: timedelta | None = DEFAULT_WINDOW,
                 retention: timedelta = DEFAULT_RETENTION,
                 touch_every: timedelta = TOUCH_EVERY) -> None:
        self._store = store
        self._clock = clock
        self._window = window
        self._retention = retention
        self._touch_every = touch_every
        self._touched: dict[tuple[str, str], datetime] = {}
        """(system, timestamp) -> last_seen as written; a cache, the table is the truth."""
        self._once: OrderedDict[tuple[str, str], datetime] = OrderedDict()
        """Fresh timestamps seen once since start, not written yet (rule 2)."""

    async def check(self, system_id: str, timestamp: str) -> None:
        """Accept the request's (already HMAC-verified) timestamp, or raise. Two first
        requests with one new timestamp racing each other end in one row: the loser's insert
        is a ``Conflict`` and its second look finds the winner's row."""
        try:
            await self._check(system_id, timestamp)
        except errors.Conflict:
            await self._check(system_id, timestamp)
        except errors.StaleTimestamp:
            log.warning("axis_stale_timestamp", security=True, system_id=system_id)
            raise

    async def _check(self, system_id: str, timestamp: str) -> None:
        window = self._window
        if window is None:
            return
        key = (system_id, timestamp)
        now = self._clock.now()
        touched = self._touched.get(key)
        if touched is not None and now - touched < self._touch_every:
            return
        async with self._store.reader() as tx:
            known = await tx.session.get(AxisClientTimestamp, key) is not None
        if not known:
            _refuse_unless_fresh(timestamp, now, window)
            if key not in self._once:
                # rule 2: used once so far, nothing written — a client with a fresh
                # timestamp per call (ours; an SDK object per call) never costs a row
                self._remember_once(key, now)
                return
        async with self._store.transaction() as tx:
            row = await tx.session.get(AxisClientTimestamp, key)
            if row is None:
                first = self._once.pop(key, now)
                tx.session.add(AxisClientTimestamp(system_id=system_id, timestamp=timestamp,
                                                   first_seen=first, last_seen=now))
            else:
                row.last_seen = now  # rule 3: at most once per touch_every
        self._remember(key, now)

    def _remember_once(self, key: tuple[str, str], at: datetime) -> None:
        if len(self._once) >= _MEMORY_LIMIT:
            self._once.popitem(last=False)  # forgotten: its next use counts as a first one
        self._once[key] = at

    def _remember(self, key: tuple[str, str], at: datetime) -> None:
        if len(self._touched) >= _MEMORY_LIMIT:
            self._touched.clear()  # a cache: clearing only costs reads
        self._touched[key] = at

    async def prune(self) -> int:
        """Rule 3: forget timestamps unused for ``retention``."""
        cutoff = self._clock.now() - self._retention
        async with self._store.transaction() as tx:
            result = await tx.session.execute(delete(AxisClientTimestamp).where(
                col(AxisClientTimestamp.last_seen) < cutoff))
        self._touched = {k: v for k, v in self._touched.items() if v >= cutoff}
        return int(getattr(result, "rowcount", 0) or 0)


def _refuse_unless_fresh(timestamp: str, now: datetime, window: timedelta) -> None:
    written = parse_client_timestamp(timestamp)
    if written is None:
        raise errors.AxisRequestInvalid(
            f"timestamp {timestamp[:40]!r} is neither ddMMyyyyTHHmmss+SSSS nor ISO 8601")
    if not is_fresh(written, now, window):
        hours = window.total_seconds() / 3600
        raise errors.StaleTimestamp(
            f"timestamp {timestamp} is more than {hours:g} h away from the axis's clock "
            "(at any time zone) and was never used by this system before; a new service "
            "object gets a fresh one",
            detail={"timestamp": timestamp})


