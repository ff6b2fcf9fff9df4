"""The axis refuses: a wrong HMAC, a replayed request, a system sending as an OrganId it does
not own, an unsigned packet when signatures are required, an unknown recipient. Under
``legacy-allowed`` an unsigned edoc is relayed with the axis's TraceHeader. A recipient that
acknowledges ``fail`` gets the packet again on a later poll, a bounded number of times."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree

from docnode import errors
from docnode.axis.hub import AxisPolicy
from docnode.transport import vxp_protocol as vxp
from docnode.transport.vxp_protocol import AckStatus, Operation
from docnode.verification import SIGNATURE_LEGACY_ALLOWED
from tests.conftest import Pki
from tests.docnode.axis_kit import (
    A_ORGAN,
    B_ORGAN,
    SECRETS,
    running_axis,
    signed_edoc,
    unsigned_edoc,
)

NS = "{http://www.mic.gov.vn/TBT/QCVN_102_2016}"


async def test_wrong_hmac_is_refused(pki: Pki, tmp_path: Path) -> None:
    async with running_axis(pki, tmp_path) as axis:
        bad = axis.client("sys.a", secret=b"not-the-secret")
        with pytest.raises(errors.AxisAuthFailed) as exc:
            await bad.send_edoc(signed_edoc(pki), from_=A_ORGAN)
        assert exc.value.code == "axis_auth_failed"
        with pytest.raises(errors.AxisAuthFailed):
            await bad.get_received_edoc_list()
        assert await axis.client("sys.b").count_receive_edoc() == 0


async def test_replayed_request_is_refused(pki: Pki, tmp_path: Path) -> None:
    async with running_axis(pki, tmp_path) as axis:
        req = vxp.build_request(
            Operation.SEND_EDOC, system_id="sys.a", secret=SECRETS["sys.a"],
            timestamp="01122026T100000+0001",
            params=[("from", A_ORGAN), ("servicetype", "eDoc"), ("messagetype", "edoc")],
            packet=signed_edoc(pki))
        answers = []
        for _ in range(2):
            async with axis.session.post(f"{axis.url}/{req.path}", data=req.body,
                                         headers=list(req.headers)) as resp:
                answers.append(json.loads(await resp.read()))
        assert answers[0]["ErrorCode"] == "0"
        assert answers[1]["ErrorCode"] == "replayed_request" and answers[1]["DocId"] == ""
        with pytest.raises(errors.ReplayedRequest):
            vxp.parse_response(json.dumps(answers[1]).encode())
        assert await axis.client("sys.b").count_receive_edoc() == 1
        # once the cache forgets it, the replay is harmless: same DocId, no second copy
        assert await axis.parts.hub.prune_seen(older_than=timedelta(0)) == 1
        async with axis.session.post(f"{axis.url}/{req.path}", data=req.body,
                                     headers=list(req.headers)) as resp:
            again = json.loads(await resp.read())
        assert again["ErrorCode"] == "0" and again["DocId"] == answers[0]["DocId"]
        assert await axis.client("sys.b").count_receive_edoc() == 1


async def test_secrets_are_never_logged(pki: Pki, tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_axis(pki, tmp_path) as axis:
        bad = axis.client("sys.a", secret=b"wrong-secret-value")
        with pytest.raises(errors.AxisAuthFailed):
            await bad.get_received_edoc_list()
        await axis.client("sys.a").send_edoc(signed_edoc(pki), from_=A_ORGAN)
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "axis_auth_failed" in text
    for secret in (*SECRETS.values(), b"wrong-secret-value"):
        assert secret.decode() not in text


async def test_sending_as_an_organ_the_system_does_not_own(pki: Pki, tmp_path: Path) -> None:
    async with running_axis(pki, tmp_path) as axis:
        # sys.b owns only H41; the packet is validly signed by G22
        with pytest.raises(errors.AxisRejected) as exc:
            await axis.client("sys.b").send_edoc(signed_edoc(pki), from_=A_ORGAN)
        assert exc.value.detail["axis_code"] == "forbidden"
        assert await axis.client("sys.b").count_receive_edoc() == 0


async def test_unsigned_packet_refused_when_signatures_are_required(
    pki: Pki, tmp_path: Path
) -> None:
    async with running_axis(pki, tmp_path) as axis:
        with pytest.raises(errors.AxisRejected) as exc:
            await axis.client("sys.a").send_edoc(unsigned_edoc(pki), from_=A_ORGAN)
        assert exc.value.detail["axis_code"] == "signature_missing"
        assert await axis.client("sys.b").count_receive_edoc() == 0


async def test_unknown_recipient_and_bad_signer(pki: Pki, tmp_path: Path) -> None:
    async with running_axis(pki, tmp_path) as axis:
        a = axis.client("sys.a")
        with pytest.raises(errors.AxisRejected) as exc:
            await a.send_edoc(signed_edoc(pki, recipient="000.00.00.Z99"), from_=A_ORGAN)
        assert exc.value.detail["axis_code"] == "unknown_recipient"
        with pytest.raises(errors.AxisRejected) as exc:
            await a.send_edoc(signed_edoc(pki, identity="revoked"), from_=A_ORGAN)
        assert exc.value.detail["axis_code"] == "certificate_revoked"


async def test_recipients_come_from_the_packet(pki: Pki, tmp_path: Path) -> None:
    c_organ, unknown = "000.00.00.K01", "000.00.00.Z99"
    async with running_axis(pki, tmp_path) as axis:
        await axis.parts.hub.register_system("sys.c", b"secret-of-system-c", [c_organ])
        a = axis.client("sys.a")
        c = axis.client("sys.c", secret=b"secret-of-system-c")
        # one recipient nobody here serves: skipped (reached some other way), the rest served
        mixed = signed_edoc(pki, also=(unknown,))
        await a.send_edoc(mixed, from_=A_ORGAN)
        assert await axis.client("sys.b").count_receive_edoc() == 1
        # ... unless the request names it
        with pytest.raises(errors.AxisRejected) as exc:
            await a.send_edoc(signed_edoc(pki, also=(unknown,)), from_=A_ORGAN, to=[unknown])
        assert exc.value.detail["axis_code"] == "unknown_recipient"
        # one sendEdoc per recipient (our client): one message, a copy each, the same DocId
        both = signed_edoc(pki, also=(c_organ,))
        first = await a.send_edoc(both, from_=A_ORGAN, to=[B_ORGAN])
        assert await a.send_edoc(both, from_=A_ORGAN, to=[c_organ]) == first
        assert await axis.client("sys.b").count_receive_edoc() == 2
        assert await c.count_receive_edoc() == 1
        sent = await a.get_sent_edoc_list(doc_id=first)
        assert sorted(s.to_code for s in sent) == sorted([B_ORGAN, c_organ])


async def test_legacy_allowed_relays_unsigned_with_a_trace_header(
    pki: Pki, tmp_path: Path
) -> None:
    async with running_axis(pki, tmp_path, signature_policy=SIGNATURE_LEGACY_ALLOWED,
                            policy=AxisPolicy(organ_id="000.00.00.A01")) as axis:
        packet = unsigned_edoc(pki)
        await axis.client("sys.a").send_edoc(packet, from_=A_ORGAN)
        b = axis.client("sys.b")
        [item] = await b.get_received_edoc_list()
        assert item.status_desc.startswith("unverified")
        served = await b.get_edoc(item.doc_id)
        assert served != packet
        hops = etree.fromstring(served).findall(f".//{NS}TraceHeaderList/{NS}TraceHeader")
        assert [h.findtext(f"{NS}OrganId") for h in hops] == [A_ORGAN, "000.00.00.A01"]
        # a signed packet on the same axis is still served byte for byte
        signed = signed_edoc(pki)
        await axis.client("sys.a").send_edoc(signed, from_=A_ORGAN)
        items = await b.get_received_edoc_list()
        assert signed in [await b.get_edoc(i.doc_id) for i in items]


async def test_fail_acknowledgement_is_served_again_bounded(pki: Pki, tmp_path: Path) -> None:
    async with running_axis(pki, tmp_path, policy=AxisPolicy(max_fail_acks=3)) as axis:
        a, b = axis.client("sys.a"), axis.client("sys.b")
        packet = signed_edoc(pki)
        doc_id = await a.send_edoc(packet, from_=A_ORGAN)
        for attempt in range(3):
            [item] = await b.get_received_edoc_list()
            assert await b.get_edoc(item.doc_id) == packet
            await b.update_status(item.doc_id, AckStatus.FAIL)
            sent = await a.get_sent_edoc_list(doc_id=doc_id)
            assert sent[0].receive_status == ("dead" if attempt == 2 else "pending")
        assert await b.get_received_edoc_list() == []
        assert await b.count_receive_edoc() == 0


async def test_acknowledging_someone_elses_copy_is_not_found(pki: Pki, tmp_path: Path) -> None:
    async with running_axis(pki, tmp_path) as axis:
        await axis.client("sys.a").send_edoc(signed_edoc(pki), from_=A_ORGAN)
        [item] = await axis.client("sys.b").get_received_edoc_list()
        with pytest.raises(errors.AxisRejected) as exc:
            await axis.client("sys.a").update_status(item.doc_id, AckStatus.DONE)
        assert exc.value.detail["axis_code"] == "not_found"
        with pytest.raises(errors.AxisRejected):
            await axis.client("sys.a").get_edoc(item.doc_id)
        assert item.to == B_ORGAN
