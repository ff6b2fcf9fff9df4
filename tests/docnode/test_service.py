"""The use cases in-process on real stores and real signatures (no HTTP): submit's
validation and its single transaction, the receive path's storage, receipts as evidence,
clerk status changes and the sender applying incoming statuses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from docnode.app import Node, open_node
from docnode.config import load_config
from docnode.errors import (
    Conflict,
    NotFound,
    SenderMismatch,
    UnknownRecipient,
    ValidationFailed,
)
from docnode.localnet import LocalNet
from docnode.metadata import FileInput, edoc_from_metadata
from docnode.transport.direct_server import PeerInfo
from envelopes.errors import ReceiptInvalid
from envelopes.model import Edoc, Organization, ResponseFor, StaffInfo, StatusCode, StatusMessage
from envelopes.organ import OrganId
from tests.docnode.nodes_kit import PDF, timeline

A, B, C = "000.00.00.G22", "000.00.00.H41", "000.00.00.K10"
PEER = PeerInfo(address="127.0.0.1")


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[dict[str, Node]]:
    net = LocalNet.create(tmp_path, [("A", A), ("B", B), ("C", C)])
    async with AsyncExitStack() as stack:
        yield {n.name: await stack.enter_async_context(open_node(load_config(n.config)))
               for n in net.nodes}


def _edoc(node: Node, to: list[str], tag: str = "1") -> Edoc:
    return edoc_from_metadata({"to": to, "subject": "Công văn", "code": f"{tag}/SVC"},
                              [FileInput("a.pdf", PDF, "application/pdf")],
                              now=datetime.now(UTC), sender=node.service.organization())


async def _count(node: Node, table: str) -> int:
    async with node.store.reader() as tx:
        return int((await tx.session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608 - fixed table names


async def test_submit_is_one_transaction_per_document(nodes: dict[str, Node]) -> None:
    a = nodes["A"]
    result = await a.service.submit(_edoc(a, [B, C]))
    assert set(result.deliveries) == {B, C}
    assert await _count(a, "outbox") == 2 and await _count(a, "deliveries") == 2
    t = await timeline(a, result.document_id)
    assert [e["kind"] for e in t["events"]] == ["submitted"]
    assert {r["organ_id"]: [e["kind"] for e in r["timeline"]] for r in t["recipients"]} == {
        B: ["queued"], C: ["queued"]}
    # The stored packet is the signed bytes, content-addressed.
    packet = await a.store.blobs.get(result.packet_sha256)
    assert b"Signature" in packet


async def test_submit_refuses_before_queuing_anything(nodes: dict[str, Node]) -> None:
    a = nodes["A"]
    with pytest.raises(UnknownRecipient) as info:
        await a.service.submit(_edoc(a, [B, "000.00.00.Z99"]))
    assert info.value.detail["organ_ids"] == ["000.00.00.Z99"]
    foreign = replace(_edoc(a, [B]), from_=Organization(organ_id=OrganId.parse(C)))
    with pytest.raises(ValidationFailed):
        await a.service.submit(foreign)
    assert await _count(a, "documents") == 0 and await _count(a, "outbox") == 0
    await a.service.submit(_edoc(a, [B], tag="7"))
    with pytest.raises(Conflict):
        await a.service.submit(_edoc(a, [B], tag="7"))
    assert await _count(a, "outbox") == 1


async def test_receive_stores_and_answers_a_receipt_that_verifies(nodes: dict[str, Node]) -> None:
    a, b = nodes["A"], nodes["B"]
    edoc = _edoc(a, [B])
    packet = await a.signer.sign_edoc(edoc)
    outcome = await b.service.receive(packet, peer=PEER)
    assert not outcome.duplicate
    import hashlib

    sha = hashlib.sha256(packet).hexdigest()
    evidence = await a.service.check(outcome.receipt, document_id=edoc.document_id,
                                     packet_sha256=sha, recipient=B)
    assert evidence.signer_organ_id == B
    assert evidence.receipt_sha256 == hashlib.sha256(outcome.receipt).hexdigest()
    with pytest.raises(ReceiptInvalid):
        await a.service.check(outcome.receipt, document_id=edoc.document_id,
                              packet_sha256="0" * 64, recipient=B)
    with pytest.raises(SenderMismatch):
        await a.service.check(outcome.receipt, document_id=edoc.document_id,
                              packet_sha256=sha, recipient=C)
    (row,) = await _rows(b, "SELECT from_organ_id, edxml_document_id, status_code FROM inbox")
    assert row == (A, edoc.document_id, "01")
    kinds = [r[0] for r in await _rows(b, "SELECT kind FROM events ORDER BY id")]
    assert kinds == ["received", "receipt_sent"]


async def _rows(node: Node, sql: str) -> list[tuple[object, ...]]:
    async with node.store.reader() as tx:
        return [tuple(r) for r in (await tx.session.execute(text(sql))).all()]


async def test_clerk_actions_queue_signed_statuses(nodes: dict[str, Node]) -> None:
    a, b = nodes["A"], nodes["B"]
    await b.service.receive(await a.signer.sign_edoc(_edoc(a, [B])), peer=PEER)
    ((doc_id,),) = await _rows(b, "SELECT document_id FROM inbox")
    with pytest.raises(ValidationFailed):
        await b.service.change_status(str(doc_id), "02")
    with pytest.raises(ValidationFailed):
        await b.service.change_status(str(doc_id), StatusCode.TAKE_BACK, reason="x")
    with pytest.raises(NotFound):
        await b.service.change_status("no-such-document", "03")
    result = await b.service.change_status(str(doc_id), "02", reason="Sai thẩm quyền")
    assert result.status_code == "02"
    rows = await _rows(b, "SELECT d.recipient_organ_id, d.state, o.kind FROM deliveries d "
                          "JOIN outbox o ON o.ref = d.id")
    assert rows == [(A, "queued", "deliver_status")]
    ((status_code,),) = await _rows(b, "SELECT status_code FROM inbox")
    assert status_code == "02"


async def test_sender_applies_statuses_and_flags_orphans(nodes: dict[str, Node]) -> None:
    a, b = nodes["A"], nodes["B"]
    sent = await a.service.submit(_edoc(a, [B]))

    def status(document_id: str, code: StatusCode) -> StatusMessage:
        return StatusMessage(
            from_=b.service.organization(),
            response_for=ResponseFor(organ_id=OrganId.parse(A), code="1/SVC",
                                     document_id=document_id),
            staff_info=StaffInfo(), status_code=code, description="",
            timestamp=datetime.now(UTC).replace(microsecond=0))

    await a.service.receive(await b.signer.sign_status(status(sent.edxml_document_id,
                                                              StatusCode.ACCEPTED)), peer=PEER)
    t = await timeline(a, sent.document_id)
    (r,) = t["recipients"]
    assert r["status_code"] == "03"
    assert [e["kind"] for e in r["timeline"]] == ["queued", "status_received"]
    # A status about a document A never sent: acknowledged, stored, flagged, no effect.
    outcome = await a.service.receive(
        await b.signer.sign_status(status("000.00.00.G22,2020/01/01,9/NONE",
                                          StatusCode.COMPLETED)), peer=PEER)
    assert outcome.receipt
    security = await _rows(a, "SELECT evidence FROM events WHERE kind = 'security'")
    assert [json.loads(str(e[0]))["problem"] for e in security] == ["orphan_status"]
    assert (await timeline(a, sent.document_id))["recipients"][0]["status_code"] == "03"
