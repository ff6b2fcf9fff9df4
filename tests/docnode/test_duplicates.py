"""Duplicates over real HTTP against a running node: the same packet twice gives one inbox
entry and the same receipt (202 then 200); different bytes under the same (From,
DocumentId) — here the same document signed a second time — are 409 duplicate_conflict."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from docnode.metadata import FileInput, edoc_from_metadata
from docnode.transport.direct_server import MESSAGES_PATH
from envelopes.model import ResponseFor, StaffInfo, StatusCode, StatusMessage
from envelopes.organ import OrganId
from tests.docnode.nodes_kit import B_ORGAN, PDF, inbox, make_net, opened


async def _post(url: str, data: bytes) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as s, s.post(
        url + MESSAGES_PATH, data=data, headers={"Content-Type": "application/xml"}
    ) as resp:
        return resp.status, resp.content_type, await resp.read()


async def test_same_packet_twice_and_conflicting_bytes(tmp_path: Path) -> None:
    net = make_net(tmp_path)
    b = net["B"]
    b.start()
    try:
        async with opened(net["A"]) as a, opened(b) as b_parts:
            edoc = edoc_from_metadata(
                {"to": [B_ORGAN], "subject": "Trùng lặp", "code": "1/DUP"},
                [FileInput("a.pdf", PDF, "application/pdf")], now=datetime.now(UTC),
                sender=a.service.organization())
            packet = await a.signer.sign_edoc(edoc)

            first = await _post(b.direct_url, packet)
            second = await _post(b.direct_url, packet)
            assert first[0] == 202 and second[0] == 200
            assert first[1] == second[1] == "application/xml"
            assert first[2] == second[2]  # the ORIGINAL receipt, byte for byte
            assert len(await inbox(b_parts)) == 1

            # Same document, signed again: ECDSA signatures differ, so the bytes differ.
            resigned = await a.signer.sign_edoc(edoc)
            assert resigned != packet
            status, ctype, body = await _post(b.direct_url, resigned)
            assert (status, ctype) == (409, "application/problem+json")
            assert json.loads(body)["code"] == "duplicate_conflict"
            assert len(await inbox(b_parts)) == 1

            # Statuses are keyed on (From, ResponseFor DocumentId, StatusCode, Timestamp).
            status_msg = StatusMessage(
                from_=a.service.organization(),
                response_for=ResponseFor(organ_id=OrganId.parse(B_ORGAN), code="9/X",
                                         document_id="000.00.00.H41,2026/01/01,9/X"),
                staff_info=StaffInfo(), status_code=StatusCode.ACCEPTED, description="",
                timestamp=datetime.now(UTC).replace(microsecond=0))
            signed_status = await a.signer.sign_status(status_msg)
            s1 = await _post(b.direct_url, signed_status)
            s2 = await _post(b.direct_url, signed_status)
            assert (s1[0], s2[0]) == (202, 200) and s1[2] == s2[2]
            s3 = await _post(b.direct_url, await a.signer.sign_status(status_msg))
            assert s3[0] == 409 and json.loads(s3[2])["code"] == "duplicate_conflict"
            async with b_parts.store.reader() as tx:
                from sqlalchemy import text

                events = (await tx.session.execute(text(
                    "SELECT kind, evidence FROM events WHERE kind = 'security'"))).all()
            # The status above is about a document B never sent to A: an orphan, stored.
            assert [json.loads(e[1])["problem"] for e in events] == ["orphan_status"]
    finally:
        b.stop()
