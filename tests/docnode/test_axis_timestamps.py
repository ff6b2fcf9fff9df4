"""The axis's timestamp window (``docnode.axis.timestamps``) over a real axis on loopback:
a system's NEW timestamp must be fresh (at any time zone), one it used while fresh is
accepted at any age afterwards — across an axis restart — as the SDK needs; ``--timestamp-
window-h 0`` turns the check off; unused timestamps are forgotten after their retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import select

from docnode import errors
from docnode.axis.hub import AxisPolicy
from docnode.axis.tables import AxisClientTimestamp
from docnode.axis.timestamps import ClientTimestamps, is_fresh, parse_client_timestamp
from docnode.transport import vxp_protocol as vxp
from docnode.transport.vxp_protocol import Operation
from docnode.transport.vxp_responses import parse_response
from tests.conftest import Pki
from tests.docnode.axis_kit import (
    A_ORGAN,
    SECRETS,
    PinnedClock,
    RunningAxis,
    running_axis,
    signed_edoc,
)

VN = timezone(timedelta(hours=7))


def _listing(timestamp: str) -> vxp.SignedRequest:
    return vxp.build_request(Operation.GET_RECEIVED_EDOC_LIST, system_id="sys.b",
                             secret=SECRETS["sys.b"], timestamp=timestamp,
                             params=[("servicetype", "eDoc"), ("messagetype", "edoc")])


async def _post(axis: RunningAxis, req: vxp.SignedRequest) -> dict[str, object]:
    async with axis.session.post(f"{axis.url}/{req.path}", data=req.body,
                                 headers=list(req.headers)) as resp:
        assert resp.status == 200
        answer = json.loads(await resp.read())
    assert isinstance(answer, dict)
    return answer


def test_parse_and_window_at_any_zone() -> None:
    assert parse_client_timestamp("22112026T233400+0986") == datetime(2026, 11, 22, 23, 34, 0,
                                                                       986000)
    assert parse_client_timestamp("2026-11-22T23:34:00+07:00") == datetime(
        2026, 11, 22, 23, 34, tzinfo=VN)
    assert parse_client_timestamp("32132026T250000+0000") is None
    assert parse_client_timestamp("yesterday") is None
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    window = timedelta(hours=24)
    # naive: the client's local time at any offset from UTC-12 to UTC+14, plus the window
    assert is_fresh(datetime(2026, 12, 2, 2, 0), now, window)        # UTC+14, now
    assert is_fresh(datetime(2026, 12, 3, 1, 59), now, window)       # UTC+14, 24 h ahead
    assert not is_fresh(datetime(2026, 12, 3, 2, 1), now, window)
    assert is_fresh(datetime(2026, 11, 30, 0, 1), now, window)       # UTC-12, 24 h old
    assert not is_fresh(datetime(2026, 11, 29, 23, 59), now, window)
    # with a zone, the window alone
    assert not is_fresh(datetime(2026, 11, 30, 11, 0, tzinfo=UTC), now, window)


async def test_new_stale_timestamp_refused_used_one_accepted(pki: Pki, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    stale = vxp.sdk_timestamp((now - timedelta(days=3)).astimezone(VN))
    future = vxp.sdk_timestamp((now + timedelta(days=3)).astimezone(VN))
    fresh = vxp.sdk_timestamp(now.astimezone(VN))
    async with running_axis(pki, tmp_path / "net") as axis:
        for timestamp in (stale, future):
            answer = await _post(axis, _listing(timestamp))
            assert (answer["status"], answer["ErrorCode"]) == ("FAIL", "stale_timestamp")
            assert answer["data"] == []  # the SDK's parser needs the array even on failure
            with pytest.raises(errors.StaleTimestamp):
                parse_response(json.dumps(answer).encode())
        # a sendEdoc with a stale new timestamp stores nothing
        send = vxp.build_request(
            Operation.SEND_EDOC, system_id="sys.a", secret=SECRETS["sys.a"], timestamp=stale,
            params=[("from", A_ORGAN), ("servicetype", "eDoc"), ("messagetype", "edoc")],
            packet=signed_edoc(pki))
        answer = await _post(axis, send)
        assert (answer["ErrorCode"], answer["DocId"]) == ("stale_timestamp", "")
        assert await axis.client("sys.b").count_receive_edoc() == 0

        # A long-lived SDK object: its timestamp accepted while fresh (here: seen three days
        # ago), then at any age, as often as it comes; for that system only.
        back_then = ClientTimestamps(axis.parts.store, PinnedClock(now - timedelta(days=3)))
        for _ in range(2):  # its first two calls, back then
            await back_then.check("sys.b", stale)
        for _ in range(3):
            answer = await _post(axis, _listing(stale))
            assert (answer["status"], answer["ErrorCode"]) == ("OK", "0")
        other = vxp.build_request(Operation.COUNT_RECEIVE_EDOC, system_id="sys.a",
                                  secret=SECRETS["sys.a"], timestamp=stale, params=[])
        assert (await _post(axis, other))["ErrorCode"] == "stale_timestamp"
        assert (await _post(axis, _listing(fresh)))["ErrorCode"] == "0"
        # unparseable: cannot be placed in time
        answer = await _post(axis, _listing("tomorrow-ish"))
        assert answer["ErrorCode"] == "axis_request_invalid"

    # After a restart (same store), both used timestamps are still accepted.
    async with running_axis(pki, tmp_path / "net") as axis:
        assert (await _post(axis, _listing(stale)))["ErrorCode"] == "0"
        assert (await _post(axis, _listing(fresh)))["ErrorCode"] == "0"
        # Unused for longer than the retention: forgotten, and a stale one is refused again.
        later = ClientTimestamps(axis.parts.store, PinnedClock(now + timedelta(days=31)))
        assert await later.prune() == 1  # stale; fresh was used once per axis run: no row
        axis.parts.hub.timestamps = ClientTimestamps(axis.parts.store, PinnedClock(now))
        assert (await _post(axis, _listing(stale)))["ErrorCode"] == "stale_timestamp"


async def test_window_off_accepts_any_age(pki: Pki, tmp_path: Path) -> None:
    ancient = "01012020T080000+0042"
    async with running_axis(pki, tmp_path, policy=AxisPolicy(timestamp_window=None)) as axis:
        assert (await _post(axis, _listing(ancient)))["ErrorCode"] == "0"


async def test_a_timestamp_used_once_costs_no_row(pki: Pki, tmp_path: Path) -> None:
    """Rule 2: fresh-per-call clients write nothing; the second use of one is kept."""
    async with running_axis(pki, tmp_path) as axis:
        b = axis.client("sys.b")  # our client: a fresh timestamp per call
        for _ in range(5):
            await b.count_receive_edoc()
        async with axis.parts.store.reader() as tx:
            assert (await tx.session.execute(select(AxisClientTimestamp))).all() == []
        fixed = vxp.sdk_timestamp(datetime.now(UTC).astimezone(VN))
        for _ in range(3):  # one SDK object: the same timestamp again and again
            assert (await _post(axis, _listing(fixed)))["ErrorCode"] == "0"
        async with axis.parts.store.reader() as tx:
            rows = (await tx.session.execute(select(AxisClientTimestamp))).scalars().all()
        assert [(r.system_id, r.timestamp) for r in rows] == [("sys.b", fixed)]
