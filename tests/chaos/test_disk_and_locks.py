"""Disk full and a locked database: clear, retryable errors (``io_error``,
``store_unavailable``) and no corruption — the node stays up, nothing half-written is left,
the event chain and SQLite's own integrity check hold, and the same packet is accepted once
the condition is gone."""

from __future__ import annotations

import http.client
import json
import random
import resource
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, text

from docnode import errors
from docnode.config import load_config
from docnode.localnet import CLI, LocalNet, LocalNode, _env
from docnode.metadata import FileInput, edoc_from_metadata
from docnode.store import Store
from tests.docnode.nodes_kit import A_ORGAN, B_ORGAN, inbox, opened

pytestmark = pytest.mark.slow


def _db(node: LocalNode) -> Path:
    url = load_config(node.config).store.url
    return Path(url.split("///", 1)[1])


def _post(node: LocalNode, data: bytes) -> tuple[int, str]:
    host, port = node.direct.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("POST", "/edxml/v1/messages", body=data,
                     headers={"Content-Type": "application/xml"})
        resp = conn.getresponse()
        body = resp.read()
        ctype = resp.getheader("Content-Type", "")
        code = json.loads(body)["code"] if "problem+json" in ctype else ""
        return resp.status, code
    finally:
        conn.close()


async def _signed(net: LocalNet, *, size: int, n: int, tag: str) -> list[bytes]:
    """Packets from A to B, signed by A's identity (A's parts opened in this process)."""
    out = []
    async with opened(net["A"]) as a:
        for i in range(n):
            edoc = edoc_from_metadata(
                {"to": [B_ORGAN], "subject": f"Đĩa đầy {i}", "code": f"{i}/{tag}"},
                [FileInput(f"big-{i}.pdf", random.Random(i).randbytes(size),  # incompressible
                           "application/pdf")],
                now=datetime.now(UTC), sender=a.service.organization())
            out.append(await a.signer.sign_edoc(edoc))
    return out


def _integrity(node: LocalNode) -> None:
    con = sqlite3.connect(_db(node))
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        con.close()
    done = node.cli("audit-log", "verify", "-c", str(node.config), "--json")
    assert json.loads(done.stdout)["ok"] is True
    blobs = load_config(node.config).store.blobs_dir
    assert not list(blobs.rglob(".tmp-*"))  # no half-written blob left behind


@pytest.fixture
def net(tmp_path: Path) -> Iterator[LocalNet]:
    net = LocalNet.create(tmp_path, [("A", A_ORGAN), ("B", B_ORGAN)])
    try:
        yield net
    finally:
        net.stop()


async def test_locked_database_is_store_unavailable(net: LocalNet) -> None:
    b = net["B"]
    b.update_config({"store": {"busy_timeout_ms": 300}})
    packets = await _signed(net, size=2048, n=1, tag="LOCK")
    b.start()
    holder = sqlite3.connect(_db(b), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        status, code = _post(b, packets[0])
        assert (status, code) == (503, "store_unavailable")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert b.process is not None and b.process.poll() is None
    assert _post(b, packets[0]) == (202, "")
    assert _post(b, packets[0]) == (200, "")
    b.stop()
    _integrity(b)
    async with opened(b) as parts:
        assert len(await inbox(parts)) == 1


def _start_with_file_size_limit(node: LocalNode, limit: int) -> subprocess.Popen[bytes]:
    """``docnode run`` where no file may grow beyond ``limit`` bytes (RLIMIT_FSIZE: writes
    fail with EFBIG like on a full disk; Python ignores SIGXFSZ, so it is an OSError)."""
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    log = (node.directory / "node-limited.log").open("ab")
    return subprocess.Popen([*CLI, "run", "-c", str(node.config)], stdout=log,
                            stderr=subprocess.STDOUT, env=_env(), preexec_fn=preexec)  # noqa: PLW1509 - the limit must be set in the child


async def test_disk_full_is_io_error_and_nothing_is_corrupted(net: LocalNet) -> None:
    b = net["B"]
    packets = await _signed(net, size=1_500_000, n=2, tag="BIG")
    small = (await _signed(net, size=1024, n=1, tag="SMALL"))[0]
    b.start()  # first start migrates the store without any limit
    b.stop()
    b.process = _start_with_file_size_limit(b, 1_000_000)
    try:
        b.wait_ready()
        for packet in packets:
            status, code = _post(b, packet)
            assert status >= 500 and code in ("io_error", "store_unavailable")
        assert b.process.poll() is None  # still up: small packets still go through
        assert _post(b, small) == (202, "")
    finally:
        b.process.terminate()
        b.process.wait(30)
        b.process = None
    _integrity(b)
    b.start()
    for packet in packets:
        assert _post(b, packet) == (202, "")
    b.stop()
    _integrity(b)
    async with opened(b) as parts:
        assert len(await inbox(parts)) == 3


async def test_database_full_is_store_unavailable(tmp_path: Path) -> None:
    """SQLITE_FULL (the database cannot grow: PRAGMA max_page_count) in the middle of a unit
    of work rolls it back whole and names the store; the chain stays intact."""
    store = await Store.open(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "blobs")
    try:
        at = datetime(2026, 12, 1, tzinfo=UTC)
        async with store.transaction() as tx:
            await tx.append_event(kind="security", at=at, actor="t", evidence={"n": 0})
        async with store.reader() as tx:
            pages = (await tx.session.execute(text("PRAGMA page_count"))).scalar_one()
        await store.engine.dispose()

        @event.listens_for(store.engine.sync_engine, "connect")
        def _cap(dbapi_connection: object, _record: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute(f"PRAGMA max_page_count = {int(pages) + 2}")
            cursor.close()

        with pytest.raises(errors.StoreUnavailable) as info:
            async with store.transaction() as tx:
                for i in range(1, 400):
                    await tx.append_event(kind="security", at=at, actor="t",
                                          evidence={"n": i, "pad": "x" * 2000})
        assert info.value.code == "store_unavailable"
        report = await store.verify_event_chain()
        assert report.ok and report.checked == 1
    finally:
        await store.close()
