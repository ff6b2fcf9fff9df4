"""Our VXP client against our axis, every operation, over loopback HTTP with real SQLite;
and an SDK-shaped request built by hand (stale keys, an old timestamp, ``docid`` spelling, a
quoted-string ``to``, ``Expect: 100-continue``) accepted as the SDK sends it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from docnode.axis.timestamps import ClientTimestamps
from docnode.transport import vxp_protocol as vxp
from docnode.transport.vxp_client import VN_TZ
from docnode.transport.vxp_protocol import AckStatus, MessageType, Operation
from envelopes.model import Edoc, StatusCode
from envelopes.packet import pack_edoc
from tests.conftest import Pki
from tests.docnode.axis_kit import (
    A_ORGAN,
    B_ORGAN,
    SECRETS,
    PinnedClock,
    RunningAxis,
    edoc,
    running_axis,
    signed_status,
)


def _pack(pki: Pki, doc: Edoc, identity: str = "valid") -> bytes:
    issued = pki.identities[identity]
    return pack_edoc(doc, key=issued.key, certificate=issued.certificate,
                     chain=issued.chain)


async def test_every_operation_through_our_client(pki: Pki, tmp_path: Path) -> None:
    async with running_axis(pki, tmp_path) as axis:
        a, b = axis.client("sys.a"), axis.client("sys.b")
        doc = edoc(pki)
        packet = _pack(pki, doc)
        doc_id = await a.send_edoc(packet, from_=A_ORGAN, to=[B_ORGAN])
        assert doc_id
        # the same bytes again (a retry after a lost answer): the same DocId, no second copy
        assert await a.send_edoc(packet, from_=A_ORGAN) == doc_id

        assert await b.count_receive_edoc() == 1
        assert await b.count_receive_status() == 0
        items = await b.get_received_edoc_list(MessageType.EDOC)
        assert [(i.from_, i.to, i.message_type) for i in items] == [(A_ORGAN, B_ORGAN, "edoc")]
        assert await a.get_received_edoc_list(MessageType.EDOC) == []
        fetched = await b.get_edoc(items[0].doc_id)
        assert fetched == packet  # a signed packet is relayed byte for byte

        sent = await a.get_sent_edoc_list(MessageType.EDOC)
        assert [(s.sender_doc_id, s.to_code, s.receive_status) for s in sent] == [
            (doc_id, B_ORGAN, "pending")]
        await b.update_status(items[0].doc_id, AckStatus.DONE)
        assert await b.get_received_edoc_list(MessageType.EDOC) == []
        sent = await a.get_sent_edoc_list(MessageType.EDOC, doc_id=doc_id)
        assert sent[0].receive_status == "done" and sent[0].received_time

        status = signed_status(pki, doc, StatusCode.ARRIVED)
        status_id = await b.send_edoc(status, from_=B_ORGAN, message_type=MessageType.STATUS)
        assert await a.count_receive_status() == 1
        got = await a.get_received_edoc_list(MessageType.STATUS)
        assert [(g.from_, g.message_type) for g in got] == [(B_ORGAN, "status")]
        assert await a.get_edoc(got[0].doc_id) == status
        await a.update_status(got[0].doc_id, AckStatus.DONE)
        assert [s.sender_doc_id for s in await b.get_sent_edoc_list(MessageType.STATUS)] == [
            status_id]

        agencies = await a.get_agencies_list()
        assert {x.code for x in agencies} == {A_ORGAN, B_ORGAN}


def _headers(req: vxp.SignedRequest) -> dict[str, str]:
    return dict(req.headers)


async def _raw_post(axis: RunningAxis, req: vxp.SignedRequest, *,
                    expect: bool = False) -> dict[str, object]:
    headers = _headers(req)
    if expect:
        headers["Expect"] = "100-continue"
    async with axis.session.post(f"{axis.url}/{req.path}", data=req.body,
                                 headers=headers) as resp:
        assert resp.status == 200
        body = await resp.read()
    assert b"null" not in body
    answer = json.loads(body)
    assert isinstance(answer, dict)
    for key in ("status", "ErrorCode", "ErrorDesc"):
        assert isinstance(answer[key], str)
    return answer


async def test_sdk_shaped_requests_are_accepted(pki: Pki, tmp_path: Path) -> None:
    # The SDK fixes its timestamp when its service object is created: this object's is three
    # days old, and both systems used it back then (docnode.axis.timestamps rule 2).
    then = datetime.now(UTC) - timedelta(days=3)
    old = vxp.sdk_timestamp(then.astimezone(VN_TZ))
    secret = SECRETS["sys.a"]
    async with running_axis(pki, tmp_path) as axis:
        back_then = ClientTimestamps(axis.parts.store, PinnedClock(then))
        for system in ("sys.a", "sys.b"):
            for _ in range(2):  # its first two calls, back then
                await back_then.check(system, old)
        doc = edoc(pki)
        packet = _pack(pki, doc)
        # sendEdoc carrying stale docId/filePath/status from earlier calls, `to` as a quoted
        # string, keys in HashMap order, lower-case header names
        send = vxp.build_request(
            Operation.SEND_EDOC, system_id="sys.a", secret=secret, timestamp=old,
            params=[("docId", "stale-id"), ("filePath", "C:/edoc"), ("status", "done"),
                    ("from", A_ORGAN), ("servicetype", "eDoc"), ("messagetype", "edoc"),
                    ("to", f'"{B_ORGAN}"')],
            packet=packet)
        lowered = vxp.SignedRequest(send.path, tuple((k.lower(), v) for k, v in send.headers),
                                    send.body)
        answer = await _raw_post(axis, lowered)
        assert answer["status"] == "OK" and answer["ErrorCode"] == "0"
        assert isinstance(answer["DocId"], str) and answer["DocId"]

        b = axis.client("sys.b")
        [item] = await b.get_received_edoc_list()
        # getEdoc with `docid` spelling, a filePath, a stale hash-file, Expect: 100-continue
        get = vxp.build_request(
            Operation.GET_EDOC, system_id="sys.b", secret=SECRETS["sys.b"], timestamp=old,
            params=[("docid", item.doc_id), ("filePath", "/var/edoc"),
                    ("hash-file", "0a1b")])
        answer = await _raw_post(axis, get, expect=True)
        assert answer["ErrorCode"] == "0"
        assert base64.b64decode(str(answer["data"])) == packet
        ack = vxp.build_request(
            Operation.UPDATE_STATUS, system_id="sys.b", secret=SECRETS["sys.b"], timestamp=old,
            params=[("docid", item.doc_id), ("filePath", "/var/edoc"), ("status", "done")])
        assert (await _raw_post(axis, ack, expect=True))["ErrorCode"] == "0"
        # the same long-lived SDK object lists again with the very same headers: not a replay
        listing = vxp.build_request(
            Operation.GET_RECEIVED_EDOC_LIST, system_id="sys.b", secret=SECRETS["sys.b"],
            timestamp=old, params=[("servicetype", "eDoc"), ("messagetype", "edoc")])
        for _ in range(2):
            answer = await _raw_post(axis, listing)
            assert answer["ErrorCode"] == "0" and answer["data"] == []
        agencies = vxp.build_request(Operation.GET_AGENCIES_LIST, system_id="sys.b",
                                     secret=SECRETS["sys.b"], timestamp=old)
        data = (await _raw_post(axis, agencies))["data"]
        assert isinstance(data, list) and all(isinstance(v, str) for d in data for v in d.values())
        count = vxp.build_request(Operation.COUNT_RECEIVE_EDOC, system_id="sys.b",
                                  secret=SECRETS["sys.b"], timestamp=old)
        assert (await _raw_post(axis, count, expect=True))["count"] == 0


async def test_failure_answers_keep_the_sdk_shape(pki: Pki, tmp_path: Path) -> None:
    async with running_axis(pki, tmp_path) as axis:
        send = vxp.build_request(
            Operation.SEND_EDOC, system_id="sys.a", secret=b"wrong", timestamp="x",
            params=[("from", A_ORGAN), ("servicetype", "eDoc"), ("messagetype", "edoc")],
            packet=b"<x/>")
        answer = await _raw_post(axis, send)
        assert answer["status"] == "FAIL" and answer["ErrorCode"] == "axis_auth_failed"
        assert answer["DocId"] == ""
        listing = vxp.build_request(
            Operation.GET_RECEIVED_EDOC_LIST, system_id="nobody", secret=b"x", timestamp="x",
            params=[("servicetype", "eDoc"), ("messagetype", "edoc")])
        answer = await _raw_post(axis, listing)
        assert answer["ErrorCode"] == "axis_auth_failed" and answer["data"] == []
        async with aiohttp.ClientSession() as s, s.post(f"{axis.url}/getEdoc", data=b"{}") as r:
            assert r.status == 200
            assert json.loads(await r.read())["ErrorCode"] == "axis_auth_failed"


async def test_sdk_object_holding_both_docid_spellings_stays_usable(
    pki: Pki, tmp_path: Path
) -> None:
    # Seen with the vendor SDK, the way a real integration uses it: ONE service object for the
    # whole application, getEdoc with {"filePath": …, "docId": ID}, updateStatus with
    # {"docid": ID, "status": "done"}. From the first acknowledgement on, the object signs both
    # spellings on every call: its HttpClient calls send both headers (docId first), its
    # sendEdoc one header (the first name, the later value).
    old = "01122026T225204+0001"
    async with running_axis(pki, tmp_path) as axis:
        sender = axis.client("sys.a")
        packets = [_pack(pki, edoc(pki)) for _ in range(2)]
        for packet in packets:
            await sender.send_edoc(packet, from_=A_ORGAN)
        put: dict[str, str] = {}  # the object's map: first put fixes a key's place

        async def call(op: Operation, **params: str) -> dict[str, object]:
            put.update(params)
            req = vxp.build_request(op, system_id="sys.b", secret=SECRETS["sys.b"],
                                    timestamp=old, params=list(put.items()))
            return await _raw_post(axis, req, expect=op is not Operation.GET_RECEIVED_EDOC_LIST)

        listed = await call(Operation.GET_RECEIVED_EDOC_LIST, servicetype="eDoc",
                            messagetype="edoc")
        ids = [str(i["docId"]) for i in listed["data"]]  # type: ignore[union-attr]
        assert len(ids) == 2
        for doc_id in ids:
            got = await call(Operation.GET_EDOC, filePath="/var/edoc", docId=doc_id)
            assert got["ErrorCode"] == "0", got
            assert base64.b64decode(str(got["data"])) in packets
            assert (await call(Operation.UPDATE_STATUS, docid=doc_id, status="done"))[
                "ErrorCode"] == "0"
        assert "docid" in put and "docId" in put
        again = await call(Operation.GET_RECEIVED_EDOC_LIST, servicetype="eDoc",
                           messagetype="edoc")
        assert again["ErrorCode"] == "0" and again["data"] == []  # both acknowledged, in order

        # the same object's sendEdoc: HttpURLConnection collapsed the two headers into one
        packet = _pack(pki, edoc(pki, sender=B_ORGAN, recipient=A_ORGAN), identity="valid_rsa")
        send = vxp.build_request(
            Operation.SEND_EDOC, system_id="sys.b", secret=SECRETS["sys.b"], timestamp=old,
            params=[*put.items(), ("from", B_ORGAN), ("servicetype", "eDoc"),
                    ("messagetype", "edoc")],
            packet=packet)
        headers = dict(send.headers)
        collapsed = tuple((k, headers["XroadVnpt-docid"] if k == "XroadVnpt-docId" else v)
                          for k, v in send.headers if k != "XroadVnpt-docid")
        answer = await _raw_post(axis, vxp.SignedRequest(send.path, collapsed, send.body))
        assert answer["ErrorCode"] == "0" and answer["DocId"]
