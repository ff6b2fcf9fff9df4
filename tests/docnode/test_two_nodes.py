"""Two real nodes (subprocesses, loopback HTTP, SQLite) exchange 100 documents with
attachments: every delivery ends ``delivered`` with a receipt that verifies, B's statuses
flow back to A, and the timelines are complete."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from envelopes.model import StatusMessage
from envelopes.packet import open_packet
from envelopes.receipt import check_receipt
from tests.docnode.nodes_kit import (
    A_ORGAN,
    B_ORGAN,
    deliveries,
    inbox,
    make_net,
    opened,
    states,
    submit,
    timeline,
    wait_for,
)

pytestmark = pytest.mark.slow
N = 100


async def test_hundred_documents_with_statuses(tmp_path: Path) -> None:
    net = make_net(tmp_path, workers=8)
    with net.running():
        async with opened(net["A"]) as a, opened(net["B"]) as b:
            ids = await submit(a, n=N, tag="TWO")

            async def all_delivered() -> bool:
                return set(await states(a, ids)) == {"delivered"}

            await wait_for("100 deliveries", all_delivered, timeout=120)

            received = await inbox(b)
            assert len(received) == N
            assert {r["from"] for r in received} == {A_ORGAN}
            # B accepts every document; every 10th is also assigned and completed.
            by_edxml = {r["edxml_document_id"]: r["document_id"] for r in received}
            for i, doc_id in enumerate(ids):
                t = await timeline(a, doc_id)
                incoming = by_edxml[t["edxml_document_id"]]
                await b.service.change_status(incoming, "03", actor="clerk:test")
                if i % 10 == 0:
                    await b.service.change_status(incoming, "04", actor="clerk:test")
                    await b.service.change_status(incoming, "06", actor="clerk:test")

            def expected(i: int) -> str:
                return "06" if i % 10 == 0 else "03"

            async def statuses_back() -> bool:
                found = await deliveries(a)
                return all(found[d][1] == expected(i) for i, d in enumerate(ids))

            await wait_for("statuses at A", statuses_back, timeout=120)

            for i, doc_id in enumerate(ids):
                t = await timeline(a, doc_id)
                (r,) = t["recipients"]
                assert r["organ_id"] == B_ORGAN and r["state"] == "delivered"
                kinds = [e["kind"] for e in r["timeline"]]
                # Arrival order of statuses sent within one second may vary.
                codes = sorted(e["evidence"]["status_code"] for e in r["timeline"]
                               if e["kind"] == "status_received")
                assert kinds[:2] == ["queued", "delivered"]
                assert codes == (["03", "04", "06"] if i % 10 == 0 else ["03"])
                assert [e["kind"] for e in t["events"]] == ["submitted"]
                # The receipt is evidence: signed by B, naming our DocumentId and the
                # SHA-256 of the exact bytes we stored and sent.
                receipt = await a.store.blobs.get(r["receipt_sha256"])
                assert hashlib.sha256(receipt).hexdigest() == r["receipt_sha256"]
                opened_receipt = open_packet(receipt)
                assert isinstance(opened_receipt.packet, StatusMessage)
                assert str(opened_receipt.packet.from_.organ_id) == B_ORGAN
                check_receipt(opened_receipt.packet, document_id=t["edxml_document_id"],
                              packet_sha256=t["packet_sha256"])
            # B's status packets were each delivered to A with their own receipts.
            async with b.store.reader() as tx:
                from docnode.store import DeliveryState

                outgoing = await tx.list_deliveries(limit=1000)
            assert len(outgoing) == N + 2 * (N // 10)
            assert {d.state for d in outgoing} == {DeliveryState.DELIVERED}
        # SIGTERM: graceful shutdown, exit status 0, no lease left behind.
        assert [node.stop() for node in net.nodes] == [0, 0]
        async with opened(net["A"]) as a:
            assert (await a.queue.stats(now=a.clock.now())).leased == 0
