"""The agency's axis poller against a real axis (loopback, SQLite) and a real node store:
a packet is acknowledged ``done`` only once the node's full receive path has stored it, and a
packet the node refuses for good is acknowledged ``fail`` — which the axis serves again, a
bounded number of times. A stored edoc gets a signed 01 queued back to its sender."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Any

from docnode.app import Node, open_node
from docnode.axis.hub import AxisPolicy
from docnode.axis_poller import AxisPoller
from docnode.cli.node import init_node
from docnode.config import load_config, write_config
from docnode.metadata import FileInput, edoc_from_metadata
from docnode.service import SubmitResult
from docnode.store import Direction, DocumentKind
from docnode.transport.direct_server import PeerInfo
from docnode.verification import SIGNATURE_LEGACY_ALLOWED
from envelopes.model import Edoc
from envelopes.read import read_packet
from tests.conftest import Pki
from tests.docnode.axis_kit import (
    A_ORGAN,
    B_ORGAN,
    SECRETS,
    RunningAxis,
    running_axis,
    signed_edoc,
    unsigned_edoc,
)


async def test_done_after_storing_fail_for_refused_bounded(pki: Pki, tmp_path: Path) -> None:
    # Node B trusts the test PKI (its certificate comes from the same CA) and requires
    # signatures; the axis is legacy-allowed, so an unsigned packet reaches B and B refuses it.
    init_node(tmp_path / "b", organ_id=B_ORGAN, ca_dir=pki.ca.directory)
    config = tmp_path / "b" / "docnode.toml"
    (tmp_path / "b" / "axis-secret").write_bytes(SECRETS["sys.b"])
    async with running_axis(pki, tmp_path / "net", signature_policy=SIGNATURE_LEGACY_ALLOWED,
                            policy=AxisPolicy(max_fail_acks=2)) as axis:
        data = tomllib.loads(config.read_text("utf-8"))
        data["axis"] = {"url": axis.url, "system_id": "sys.b", "secret_file": "axis-secret"}
        write_config(config, data)  # routes B's 01 back through the axis
        async with open_node(load_config(config)) as node_b:
            await _scenario(pki, axis, node_b)


async def _scenario(pki: Pki, axis: RunningAxis, node_b: Node) -> None:
    a = axis.client("sys.a")
    poller = AxisPoller(client=axis.client("sys.b"), service=node_b.service)
    good, bad = signed_edoc(pki), unsigned_edoc(pki)
    good_id = await a.send_edoc(good, from_=A_ORGAN)
    bad_id = await a.send_edoc(bad, from_=A_ORGAN)

    first = await poller.poll_once()
    assert (first.stored, first.failed, first.codes) == (1, 1, ["signature_missing"])
    edoc = read_packet(good).packet
    assert isinstance(edoc, Edoc)
    async with node_b.store.reader() as tx:
        entry = await tx.find_inbox(A_ORGAN, edoc.document_id)
        assert entry is not None
        arrivals = await tx.find_documents(edoc.document_id,
                                           direction=Direction.OUT, kind=DocumentKind.STATUS)
    assert [d.status_code for d in arrivals] == ["01"]
    assert (await a.get_sent_edoc_list(doc_id=good_id))[0].receive_status == "done"
    assert (await a.get_sent_edoc_list(doc_id=bad_id))[0].receive_status == "pending"

    second = await poller.poll_once()  # the refused one again, and its last chance
    assert (second.listed, second.failed, second.stored) == (1, 1, 0)
    assert (await a.get_sent_edoc_list(doc_id=bad_id))[0].receive_status == "dead"
    third = await poller.poll_once()
    assert third.listed == 0


async def test_outgoing_via_the_axis_delivered_or_failed(pki: Pki, tmp_path: Path) -> None:
    """A node's queued packets go to sendEdoc: the axis DocId is the evidence; a recipient
    the axis does not serve fails the delivery for good with the axis's code."""
    init_node(tmp_path / "b", organ_id=B_ORGAN, ca_dir=pki.ca.directory)
    config = tmp_path / "b" / "docnode.toml"
    (tmp_path / "b" / "axis-secret").write_bytes(SECRETS["sys.b"])
    async with running_axis(pki, tmp_path / "net") as axis:
        data = tomllib.loads(config.read_text("utf-8"))
        data["axis"] = {"url": axis.url, "system_id": "sys.b", "secret_file": "axis-secret"}
        data["delivery"] = {"backoff_initial_s": 0.1, "backoff_max_s": 0.5}
        write_config(config, data)
        async with open_node(load_config(config)) as node_b:
            service = node_b.service
            results: list[SubmitResult] = []
            for to in (A_ORGAN, "000.00.00.Z99"):
                edoc = edoc_from_metadata(
                    {"to": [to], "subject": "Gửi qua trục", "code": f"{len(results) + 1}/AX"},
                    [FileInput("a.pdf", b"%PDF-1.4 x", "application/pdf")],
                    now=service.now(), sender=service.organization())
                results.append(await service.submit(edoc, actor="test"))
            node_b.dispatcher.start()
            try:
                async def settled() -> list[Any]:
                    async with node_b.store.reader() as tx:
                        rows = [(await tx.deliveries_of(r.document_id))[0] for r in results]
                    done = all(d.state.value in ("delivered", "failed") for d in rows)
                    return rows if done else []

                for _ in range(300):
                    rows = await settled()
                    if rows:
                        break
                    await asyncio.sleep(0.05)
            finally:
                await node_b.dispatcher.stop()
    ok, refused = rows
    assert ok.state.value == "delivered" and ok.axis_doc_id and ok.receipt_sha256 is None
    assert ok.status_code is None  # the recipient's own 01 comes later, as a status packet
    assert refused.state.value == "failed" and refused.last_error == "unknown_recipient"


async def test_stored_but_unacknowledged_gets_its_01_exactly_once(
    pki: Pki, tmp_path: Path
) -> None:
    """The poller died after the receive path stored the packet and before the 01 and the
    acknowledgement: the next poll sees a duplicate, queues the missing 01 once, acks done."""
    init_node(tmp_path / "b", organ_id=B_ORGAN, ca_dir=pki.ca.directory)
    config = tmp_path / "b" / "docnode.toml"
    (tmp_path / "b" / "axis-secret").write_bytes(SECRETS["sys.b"])
    async with running_axis(pki, tmp_path / "net") as axis:
        data = tomllib.loads(config.read_text("utf-8"))
        data["axis"] = {"url": axis.url, "system_id": "sys.b", "secret_file": "axis-secret"}
        write_config(config, data)
        async with open_node(load_config(config)) as node_b:
            a = axis.client("sys.a")
            good = signed_edoc(pki)
            doc_id = await a.send_edoc(good, from_=A_ORGAN)
            await node_b.service.receive(good, peer=PeerInfo(address="test"),
                                         authenticated_axis=True)
            poller = AxisPoller(client=axis.client("sys.b"), service=node_b.service)
            first = await poller.poll_once()
            assert (first.duplicates, first.stored) == (1, 0)
            assert (await poller.poll_once()).listed == 0
            edoc = read_packet(good).packet
            assert isinstance(edoc, Edoc)
            async with node_b.store.reader() as tx:
                arrivals = await tx.find_documents(edoc.document_id, direction=Direction.OUT,
                                                   kind=DocumentKind.STATUS)
            assert [d.status_code for d in arrivals] == ["01"]
            assert (await a.get_sent_edoc_list(doc_id=doc_id))[0].receive_status == "done"
