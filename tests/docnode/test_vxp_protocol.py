"""VXP protocol core against EVERY vector of spec/vxp-test-vectors.md (§5 buckets and orders,
§6 V1-V5, the hash-file table) and the server-side checks of §3."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import pytest

from docnode import errors
from docnode.transport import vxp_protocol as vxp
from docnode.transport.vxp_protocol import Operation

SECRET = b"TEST-SECRET-vxp-0001"
SYSTEM = "vxp.test.01"
V5_PACKET = (
    b'<?xml version="1.0" encoding="UTF-8"?>\r\n'
    b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"/>\r\n'
)

@dataclass(frozen=True)
class Vector:
    op: Operation
    ts: str
    params: list[tuple[str, str]]
    packet: bytes | None
    key: str
    signed: str
    hmac: str


V1 = Vector(
    op=Operation.GET_RECEIVED_EDOC_LIST,
    ts="22112026T233400+0986",
    params=[("servicetype", "eDoc"), ("messagetype", "edoc")],
    packet=None,
    key="systemid;servicetype;messagetype;timestamp;Content-Type",
    signed='{"XroadVnpt-systemid":"vxp.test.01","XroadVnpt-servicetype":"eDoc",'
    '"XroadVnpt-messagetype":"edoc","XroadVnpt-timestamp":"22112026T233400+0986",'
    '"XroadVnpt-Content-Type":"application/json"}',
    hmac="c6b7e7b4f207b802dbe33ed8924c60789f9616f4d3212ba28f53336e91622c99",
)
V2 = Vector(
    op=Operation.SEND_EDOC,
    ts="22112026T233433+0453",
    params=[("from", "000.00.00.T01"), ("servicetype", "eDoc"), ("messagetype", "edoc"),
            ("to", '["000.00.00.G22","000.00.00.H41"]')],
    packet=b"abc",
    key="systemid;servicetype;messagetype;hash-file;from;to;timestamp;Content-Type",
    signed='{"XroadVnpt-systemid":"vxp.test.01","XroadVnpt-servicetype":"eDoc",'
    '"XroadVnpt-messagetype":"edoc","XroadVnpt-hash-file":'
    '"ba7816bf8f1cfea414140de5dae2223b0361a396177a9cb410ff61f2015ad",'
    '"XroadVnpt-from":"000.00.00.T01","XroadVnpt-to":"[\\"000.00.00.G22\\",\\"000.00.00.H41\\"]",'
    '"XroadVnpt-timestamp":"22112026T233433+0453","XroadVnpt-Content-Type":"application/octet-stream"}',
    hmac="96c989c7d9e9ea9f973cd4214b5d81e3e2c857fefa40a513a52182c92d5c1892",
)
V3 = Vector(
    op=Operation.UPDATE_STATUS,
    ts="22112026T233401+0801",
    params=[("docId", "11111111-2222-4333-8444-555555555551"), ("status", "done")],
    packet=None,
    key="systemid;docId;timestamp;Content-Type;status",
    signed='{"XroadVnpt-systemid":"vxp.test.01","XroadVnpt-docId":'
    '"11111111-2222-4333-8444-555555555551","XroadVnpt-timestamp":"22112026T233401+0801",'
    '"XroadVnpt-Content-Type":"application/json","XroadVnpt-status":"done"}',
    hmac="804f6cbac0a3d16a54fab01926f94d3122f59383261ab21d3369578863c791fb",
)
V4 = Vector(
    op=Operation.GET_SENT_EDOC_LIST,
    ts="22112026T233433+0784",
    params=[("servicetype", "eDoc"), ("messagetype", "edoc"), ("docId", 'a"b\\c<d>&e=f/g')],
    packet=None,
    key="systemid;servicetype;messagetype;docId;timestamp;Content-Type",
    signed='{"XroadVnpt-systemid":"vxp.test.01","XroadVnpt-servicetype":"eDoc",'
    '"XroadVnpt-messagetype":"edoc","XroadVnpt-docId":"a\\"b\\\\c<d>&e=f/g",'
    '"XroadVnpt-timestamp":"22112026T233433+0784","XroadVnpt-Content-Type":"application/json"}',
    hmac="77922f4e134c3c5c679aa4720ac6e123088e6dc5b4fc588612d326839bbb4927",
)
V5 = Vector(
    op=Operation.SEND_EDOC,
    ts="22112026T233455+0556",
    params=[("from", "000.00.00.T01"), ("servicetype", "eDoc"), ("messagetype", "edoc")],
    packet=V5_PACKET,
    key="systemid;servicetype;messagetype;hash-file;from;timestamp;Content-Type",
    signed='{"XroadVnpt-systemid":"vxp.test.01","XroadVnpt-servicetype":"eDoc",'
    '"XroadVnpt-messagetype":"edoc","XroadVnpt-hash-file":'
    '"3dc2a3dda52caf1183797195784601dab6a46bc1672864180ce6fd244706bc",'
    '"XroadVnpt-from":"000.00.00.T01","XroadVnpt-timestamp":"22112026T233455+0556",'
    '"XroadVnpt-Content-Type":"application/octet-stream"}',
    hmac="ed3600f84a5e362e78d8d45c8a09563d5df34f74f2eb13959739c197b93ddb0b",
)
VECTORS = {"V1": V1, "V2": V2, "V3": V3, "V4": V4, "V5": V5}


def _request(v: Vector) -> vxp.SignedRequest:
    return vxp.build_request(
        v.op,
        system_id=SYSTEM,
        secret=SECRET,
        timestamp=v.ts,
        params=v.params,
        packet=v.packet,
    )


def _raw(req: vxp.SignedRequest) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode("utf-8")) for k, v in req.headers]


def _lookup(system_id: str) -> bytes | None:
    return SECRET if system_id == SYSTEM else None


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_headers_and_hmac(name: str) -> None:
    v = VECTORS[name]
    req = _request(v)
    h = dict(req.headers)
    assert h["XroadVnpt-sign-header-key"] == v.key
    assert h["XroadVnpt-sign-header"] == v.signed
    assert h["XroadVnpt-hash-header"] == v.hmac
    assert vxp.hash_header(SECRET, str(v.signed).encode()) == v.hmac
    assert h["User-Agent"] == "JAVASDKAgent/1.0.0 XRoad/VPCP"
    assert h["XroadVnpt-version"] == "3.0.201608"
    assert h["Content-Type"] == h["XroadVnpt-Content-Type"]
    assert h["XroadVnpt-timestamp"] == v.ts


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_verifies_on_the_server(name: str) -> None:
    v = VECTORS[name]
    req = _request(v)
    verified = vxp.verify_request(v.op, _raw(req), req.body,
                                  secret_for=_lookup)
    assert verified.system_id == SYSTEM
    assert verified.replay_key == v.hmac
    assert verified.packet == v.packet
    for key, value in v.params:
        assert verified.param(key) == value


def test_send_bodies() -> None:
    assert _request(V2).body == b"abc\r\n"
    assert _request(V5).body == V5_PACKET + b"\r\n"
    assert _request(V1).body == b""
    assert _request(V3).body == b"{}"
    assert len(V5_PACKET) == 98
    assert dict(_request(V2).headers)["XroadVnpt-hash-file"] == (
        "ba7816bf8f1cfea414140de5dae2223b0361a396177a9cb410ff61f2015ad")


@pytest.mark.parametrize(
    ("packet", "sha", "expected"),
    [
        (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
         "ba7816bf8f1cfea414140de5dae2223b0361a396177a9cb410ff61f2015ad"),
        (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (V5_PACKET, "3dc2a3dda52caf11837971957804601dab6a46bc1672864180ce6fd2447006bc",
         "3dc2a3dda52caf1183797195784601dab6a46bc1672864180ce6fd244706bc"),
    ],
)
def test_hash_file_table(packet: bytes, sha: str, expected: str) -> None:
    assert hashlib.sha256(packet).hexdigest() == sha
    assert vxp.hash_file(packet) == expected
    # a digest byte below 0x10 loses its leading zero (abc has 0x01 and 0x00)
    assert (len(expected) < 64) == any(b < 0x10 for b in bytes.fromhex(sha))


@pytest.mark.parametrize(
    ("key", "bucket"),
    [("systemid", 2), ("servicetype", 2), ("messagetype", 5), ("hash-file", 6), ("docId", 6),
     ("docid", 6), ("filePath", 7), ("from", 10), ("to", 11), ("timestamp", 15),
     ("Content-Type", 15), ("status", 15)],
)
def test_java_hashmap_buckets(key: str, bucket: int) -> None:
    h = vxp.java_string_hash(key)
    assert (h ^ (h >> 16)) & 15 == bucket


def test_sdk_orders() -> None:
    assert ";".join(vxp.sdk_key_order(
        ["timestamp", "systemid", "Content-Type", "from", "servicetype", "messagetype", "to",
         "hash-file"])) == (
        "systemid;servicetype;messagetype;hash-file;from;to;timestamp;Content-Type")
    assert ";".join(vxp.sdk_key_order(
        ["timestamp", "systemid", "Content-Type", "docId", "status"])) == (
        "systemid;docId;timestamp;Content-Type;status")
    assert vxp.java_string_hash("") == 0
    assert vxp.java_string_hash("a") == 97


def test_timestamp_format() -> None:
    assert vxp.sdk_timestamp(datetime(2026, 11, 22, 23, 34, 0, 986_000)) == "22112026T233400+0986"
    assert vxp.sdk_timestamp(datetime(2026, 1, 2, 3, 4, 5, 7_999)) == "02012026T030405+0007"


def test_signed_json_escaping_matches_json_dumps() -> None:
    pairs = [("docId", 'a"b\\c<d>&e=f/g'), ("x", "Hà Nội\n")]
    text = vxp.sign_header_json(pairs)
    assert text == '{"XroadVnpt-docId":"a\\"b\\\\c<d>&e=f/g","XroadVnpt-x":"Hà Nội\\n"}'


# --- §3 refusals ------------------------------------------------------------------------


def _tamper(req: vxp.SignedRequest, name: str, value: str) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), (value if k == name else v).encode()) for k, v in req.headers]


def test_wrong_secret_or_unknown_system() -> None:
    req = _request(V1)
    with pytest.raises(errors.AxisAuthFailed) as e1:
        vxp.verify_request(Operation.GET_RECEIVED_EDOC_LIST, _raw(req), b"",
                           secret_for=lambda _s: b"other")
    assert e1.value.code == "axis_auth_failed"
    with pytest.raises(errors.AxisAuthFailed):
        vxp.verify_request(Operation.GET_RECEIVED_EDOC_LIST, _raw(req), b"",
                           secret_for=lambda _s: None)


def test_header_differing_from_signed_value() -> None:
    req = _request(V1)
    raw = _tamper(req, "XroadVnpt-messagetype", "status")
    with pytest.raises(errors.AxisRequestInvalid) as exc:
        vxp.verify_request(Operation.GET_RECEIVED_EDOC_LIST, raw, b"", secret_for=_lookup)
    assert exc.value.code == "axis_request_invalid"


def test_body_must_match_hash_file_and_end_with_crlf() -> None:
    req = _request(V2)
    with pytest.raises(errors.AxisAuthFailed):
        vxp.verify_request(Operation.SEND_EDOC, _raw(req), b"abd\r\n", secret_for=_lookup)
    with pytest.raises(errors.AxisRequestInvalid):
        vxp.verify_request(Operation.SEND_EDOC, _raw(req), b"abc", secret_for=_lookup)


def test_case_insensitive_headers_stale_keys_and_old_timestamp() -> None:
    # An SDK service object re-sends docId/filePath/status from earlier calls on sendEdoc,
    # with a timestamp fixed years ago: all signed, all accepted, stale keys ignored.
    req = vxp.build_request(
        Operation.SEND_EDOC, system_id=SYSTEM, secret=SECRET, timestamp="01012020T000000+0001",
        params=[("docId", "stale"), ("filePath", "/tmp/x"), ("status", "done"),
                ("from", "000.00.00.T01"), ("servicetype", "eDoc"), ("messagetype", "status"),
                ("to", '"000.00.00.G22"')],
        packet=b"<x/>",
    )
    raw = [(k.lower().encode(), v.encode()) for k, v in req.headers]
    verified = vxp.verify_request(Operation.SEND_EDOC, raw, req.body, secret_for=_lookup)
    assert verified.param("docId") is None
    assert verified.param("messagetype") == "status"
    assert vxp.parse_to(verified.param("to")) == ("000.00.00.G22",)
    # a stale hash-file on a list call is ignored too
    assert vxp.verify_request(Operation.GET_EDOC, raw, b"{}", secret_for=_lookup).param(
        "hash-file") is None


def test_parse_to_forms() -> None:
    assert vxp.parse_to('["000.00.00.G22","000.00.00.H41"]') == ("000.00.00.G22", "000.00.00.H41")
    assert vxp.parse_to('"000.00.00.G22"') == ("000.00.00.G22",)
    assert vxp.parse_to(None) == ()
    with pytest.raises(errors.AxisRequestInvalid):
        vxp.parse_to("[1,2]")


# --- §4 responses -----------------------------------------------------------------------


def test_responses_never_carry_null() -> None:
    body = vxp.encode_response(vxp.ok_response(DocId=None, data=[{"a": None, "b": 1}]))
    assert b"null" not in body
    answer = json.loads(body)
    assert answer["status"] == "OK" and answer["ErrorCode"] == "0" and answer["ErrorDesc"] == ""
    fail = vxp.fail_response("axis_auth_failed", "sai khóa", DocId="")
    assert fail["ErrorDesc"].isascii() and fail["DocId"] == ""


@pytest.mark.parametrize(
    ("code", "cls"),
    [("axis_auth_failed", errors.AxisAuthFailed), ("replayed_request", errors.ReplayedRequest),
     ("stale_timestamp", errors.StaleTimestamp),
     ("signature_missing", errors.AxisRejected), ("sender_mismatch", errors.AxisRejected),
     ("store_unavailable", errors.AxisError), ("-1", errors.AxisError)],
)
def test_parse_response_maps_error_codes(code: str, cls: type[errors.DocnodeError]) -> None:
    body = vxp.encode_response(vxp.fail_response(code, "x", DocId=""))
    with pytest.raises(cls) as exc:
        vxp.parse_response(body)
    assert exc.value.code == cls.code
    assert exc.value.detail["axis_code"] == code


def test_parse_response_ok_and_garbage() -> None:
    assert vxp.parse_response(b'{"status":"OK","ErrorCode":"0","ErrorDesc":"","DocId":"d"}')[
        "DocId"] == "d"
    with pytest.raises(errors.AxisError):
        vxp.parse_response(b"<html>")


# --- one SDK object given both `docId` and `docid` ----------------------------------------
# The SDK's header map is case-sensitive, so an object used once with {"docId": X} (getEdoc, as
# the vendor example writes it) and once with {"docid": Y} (its updateStatus example) signs
# both keys from then on. Its Apache HttpClient calls send both headers; its sendEdoc
# (HttpURLConnection, case-insensitive request properties) sends ONE header under the first
# spelling carrying the value of the later one.


def _both_spellings(op: Operation, *, packet: bytes | None = None) -> vxp.SignedRequest:
    params = [("docId", "X-1"), ("docid", "Y-2"), ("filePath", "/tmp/xml"), ("status", "done")]
    if op is Operation.SEND_EDOC:
        params += [("from", "000.00.00.T01"), ("servicetype", "eDoc"), ("messagetype", "edoc")]
    elif op is Operation.GET_RECEIVED_EDOC_LIST:
        params += [("servicetype", "eDoc"), ("messagetype", "edoc")]
    return vxp.build_request(op, system_id=SYSTEM, secret=SECRET,
                             timestamp="01122026T225204+0001", params=params, packet=packet)


def test_both_spellings_do_not_break_other_operations() -> None:
    req = _both_spellings(Operation.GET_RECEIVED_EDOC_LIST)
    names = [k for k, _ in req.headers]
    assert "XroadVnpt-docId" in names and "XroadVnpt-docid" in names  # as the SDK sends them
    verified = vxp.verify_request(Operation.GET_RECEIVED_EDOC_LIST, _raw(req), b"",
                                  secret_for=_lookup)
    assert verified.param("messagetype") == "edoc"
    assert verified.param("docId") is None  # not a parameter of the list call: stale


def test_both_spellings_on_sendedoc_collapse_into_one_header() -> None:
    req = _both_spellings(Operation.SEND_EDOC, packet=b"abc")
    raw: list[tuple[bytes, bytes]] = []
    for name, value in req.headers:
        if name == "XroadVnpt-docid":
            continue  # HttpURLConnection replaced the value of the first spelling instead
        raw.append((name.encode(), (b"Y-2" if name == "XroadVnpt-docId" else value.encode())))
    verified = vxp.verify_request(Operation.SEND_EDOC, raw, req.body, secret_for=_lookup)
    assert verified.packet == b"abc" and verified.param("from") == "000.00.00.T01"


def test_both_spellings_the_first_header_wins() -> None:
    # A real integration keeps one object, fetches with {"docId": ID} and acknowledges with
    # {"docid": ID}: the next getEdoc signs the new docId first (the key the map got first) and
    # the acknowledged id as a stale docid. The first header is the one meant, as the national
    # axis (an HTTP server's getHeader) reads it.
    nxt = vxp.build_request(Operation.GET_EDOC, system_id=SYSTEM, secret=SECRET,
                            timestamp="01122026T225204+0001",
                            params=[("filePath", "/tmp/xml"), ("docId", "NEXT"),
                                    ("docid", "ACKED"), ("status", "done")])
    assert [k for k, _ in nxt.headers].index("XroadVnpt-docId") < [
        k for k, _ in nxt.headers].index("XroadVnpt-docid")
    verified = vxp.verify_request(Operation.GET_EDOC, _raw(nxt), b"{}", secret_for=_lookup)
    assert verified.require("docId") == verified.require("docid") == "NEXT"
    # headers arriving the other way round (another client): the first is still the one used
    swapped = sorted(_raw(nxt), key=lambda h: h[0] != b"XroadVnpt-docid")
    assert vxp.verify_request(Operation.GET_EDOC, swapped, b"{}",
                              secret_for=_lookup).param("docId") == "ACKED"


def test_an_unsigned_value_under_a_signed_name_is_refused() -> None:
    req = _both_spellings(Operation.GET_RECEIVED_EDOC_LIST)
    smuggled = [*_raw(req), (b"XroadVnpt-DOCID", b"Z-3")]
    with pytest.raises(errors.AxisRequestInvalid):
        vxp.verify_request(Operation.GET_RECEIVED_EDOC_LIST, smuggled, b"", secret_for=_lookup)
    twice = [*_raw(_request(V1)), (b"XroadVnpt-hash-header", b"00" * 32)]
    with pytest.raises(errors.AxisRequestInvalid):
        vxp.verify_request(Operation.GET_RECEIVED_EDOC_LIST, twice, b"", secret_for=_lookup)


def test_header_order_is_the_sdks() -> None:
    # As captured from the vendor SDK 2.0.1: sendEdoc (HttpURLConnection) sends Content-Type
    # first; the other calls (Apache HttpClient default headers) just before its copy.
    send = [k for k, _ in _request(V2).headers]
    assert send == ["Content-Type", "XroadVnpt-systemid", "XroadVnpt-servicetype",
                    "XroadVnpt-messagetype", "XroadVnpt-hash-file", "XroadVnpt-from",
                    "XroadVnpt-to", "XroadVnpt-timestamp", "XroadVnpt-Content-Type",
                    "XroadVnpt-sign-header-key", "XroadVnpt-sign-header", "XroadVnpt-hash-header",
                    "User-Agent", "XroadVnpt-version"]
    ack = [k for k, _ in _request(V3).headers]
    assert ack == ["XroadVnpt-systemid", "XroadVnpt-docId", "XroadVnpt-timestamp", "Content-Type",
                   "XroadVnpt-Content-Type", "XroadVnpt-status", "XroadVnpt-sign-header-key",
                   "XroadVnpt-sign-header", "XroadVnpt-hash-header", "User-Agent",
                   "XroadVnpt-version"]
