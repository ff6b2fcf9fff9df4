"""The VXP axis HTTP protocol, sans I/O (``spec/vxp-test-vectors.md``, ``spec/edxml.md`` §3.2).

Bytes and strings in, typed values out; no sockets, clock, environment or randomness: the
timestamp is a parameter. Both our client (``vxp_client``) and our axis (``vxp_server``) use
this module, so that what one emits is exactly what the other accepts.

Rules:
1. A request carries a *logical header map* (``timestamp``, ``systemid``, ``Content-Type``,
   the operation's parameters, ``hash-file`` on sendEdoc). Each entry travels as
   ``XroadVnpt-<key>``; ``sign-header-key`` lists the keys, ``sign-header`` is the compact
   JSON of the prefixed map and ``hash-header`` its HMAC-SHA256 with the system secret (§2).
2. Our client emits the keys in the reference SDK's ``java.util.HashMap`` order (§5) and its
   headers in the SDK's order, so the signed part of its requests is byte-identical to the
   SDK's (checked against requests the vendor SDK 2.0.1 really sent); the server assumes no
   order.
3. ``hash-file`` is the SHA-256 digest written without zero padding per byte (§2.4).
4. Server verification follows §3 in its order: system id, HMAC over the RAW bytes of
   ``sign-header`` (constant-time), signed keys = listed keys in order, each signed value equal
   to its header, parameters read from the SIGNED values only, ``hash-file`` over the body minus
   one CR LF. Stale keys the SDK re-sends are ignored; the timestamp is an opaque signed string
   and its age is NEVER checked (§2.1: the SDK fixes it once per service object). Replay
   protection is the axis's seen-request cache (``docnode.axis``), keyed on what this module
   returns as :attr:`VerifiedRequest.replay_key`.
5. Signed keys that differ only in case (``docId`` and ``docid``: the SDK's map is
   case-sensitive, HTTP header names are not) are checked as one header name: it must be
   present and carry only values signed under one of those spellings. The SDK sends both
   headers on its Apache HttpClient calls, in its map's order, but on sendEdoc
   (``HttpURLConnection``) the later spelling's value replaces the earlier under the earlier
   name. The parameter's value is then the FIRST such header's, as an HTTP server's
   ``getHeader`` reads it: that is what integrations written against the national axis rely
   on (one long-lived object, getEdoc with ``docId``, updateStatus with ``docid``: the next
   getEdoc carries the new ``docId`` first and the acknowledged id as a stale ``docid``).
6. Responses (§4) are built and parsed by ``vxp_responses``, re-exported here: always
   ``status``/``ErrorCode``/``ErrorDesc``, sendEdoc always a ``DocId``, never a JSON null.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from docnode import errors
from docnode.transport.vxp_responses import (
    ERROR_OK,
    encode_response,
    fail_response,
    ok_response,
    parse_response,
)

PREFIX = "XroadVnpt-"
USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"
SDK_VERSION = "3.0.201608"
SERVICE_TYPE = "eDoc"
JSON_CONTENT_TYPE = "application/json"
OCTET_CONTENT_TYPE = "application/octet-stream"
CRLF = b"\r\n"

SIGN_HEADER_KEY = PREFIX + "sign-header-key"
SIGN_HEADER = PREFIX + "sign-header"
HASH_HEADER = PREFIX + "hash-header"
SYSTEM_ID = "systemid"
TIMESTAMP = "timestamp"
CONTENT_TYPE = "Content-Type"
HASH_FILE = "hash-file"

MAX_SIGNED_HEADER_BYTES = 16 * 1024
"""A signed header map is a few hundred bytes; anything longer is refused unread."""


class Operation(StrEnum):
    """The operations (paths under the endpoint) of §1."""

    SEND_EDOC = "sendEdoc"
    GET_RECEIVED_EDOC_LIST = "getReceivedEdocList"
    GET_EDOC = "getEdoc"
    UPDATE_STATUS = "updateStatus"
    GET_SENT_EDOC_LIST = "getSentEdocList"
    GET_AGENCIES_LIST = "getAgenciesList"
    COUNT_RECEIVE_EDOC = "countReceiveEdoc"
    COUNT_RECEIVE_STATUS = "countReceiveStatus"

    @property
    def content_type(self) -> str:
        return OCTET_CONTENT_TYPE if self is Operation.SEND_EDOC else JSON_CONTENT_TYPE

    @property
    def parameters(self) -> tuple[str, ...]:
        """The parameter keys that belong to the operation (lower case); others are stale."""
        return _PARAMETERS[self]


_PARAMETERS: dict[Operation, tuple[str, ...]] = {
    Operation.SEND_EDOC: ("from", "servicetype", "messagetype", "to", HASH_FILE),
    Operation.GET_RECEIVED_EDOC_LIST: ("servicetype", "messagetype"),
    Operation.GET_EDOC: ("docid",),
    Operation.UPDATE_STATUS: ("docid", "status"),
    Operation.GET_SENT_EDOC_LIST: ("servicetype", "messagetype", "docid"),
    Operation.GET_AGENCIES_LIST: (),
    Operation.COUNT_RECEIVE_EDOC: (),
    Operation.COUNT_RECEIVE_STATUS: (),
}


class MessageType(StrEnum):
    EDOC = "edoc"
    STATUS = "status"


class AckStatus(StrEnum):
    """``updateStatus`` values: a TRANSPORT acknowledgement, not a business StatusCode."""

    DONE = "done"
    FAIL = "fail"
    PROCESSING = "processing"


# --- §2.1 timestamp, §5 key order, §2.4 hash-file, §2.2/2.3 signing ----------------------


def sdk_timestamp(at: datetime) -> str:
    """``ddMMyyyy'T'HHmmss+SSSS`` of ``at`` as given (the SDK uses its local time, no zone)."""
    return at.strftime("%d%m%YT%H%M%S") + f"+{at.microsecond // 1000:04d}"


def java_string_hash(text: str) -> int:
    """``java.lang.String.hashCode`` over UTF-16 code units, as unsigned 32 bits."""
    data = text.encode("utf-16-be")
    h = 0
    for i in range(0, len(data), 2):
        h = (31 * h + int.from_bytes(data[i : i + 2], "big")) & 0xFFFFFFFF
    return h


def sdk_key_order(keys_in_put_order: Iterable[str]) -> list[str]:
    """The iteration order of a default ``java.util.HashMap`` holding these keys (table size 16,
    valid up to 12 keys; within a bucket, insertion order)."""
    keys = list(dict.fromkeys(keys_in_put_order))
    if len(keys) > 12:
        raise ValueError("more than 12 keys would resize the Java HashMap")

    def bucket(key: str) -> int:
        h = java_string_hash(key)
        return (h ^ (h >> 16)) & 15

    return sorted(keys, key=lambda k: (bucket(k), keys.index(k)))


def hash_file(packet: bytes) -> str:
    """SHA-256 of the packet, each byte as lowercase hex WITHOUT zero padding (§2.4)."""
    return "".join(format(b, "x") for b in hashlib.sha256(packet).digest())


def sign_header_json(pairs: Sequence[tuple[str, str]]) -> str:
    """The compact JSON object ``{"XroadVnpt-k":"v",…}`` in the given key order (§2.2)."""
    return json.dumps(
        {PREFIX + k: v for k, v in pairs}, separators=(",", ":"), ensure_ascii=False
    )


def hash_header(secret: bytes, sign_header: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the exact ``sign-header`` bytes (§2.3)."""
    return hmac.new(secret, sign_header, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """Everything our client puts on the wire for one call."""

    path: str
    """The operation's path segment (appended to the endpoint)."""
    headers: tuple[tuple[str, str], ...]
    body: bytes


def build_request(
    operation: Operation,
    *,
    system_id: str,
    secret: bytes,
    timestamp: str,
    params: Sequence[tuple[str, str]] = (),
    packet: bytes | None = None,
) -> SignedRequest:
    """Headers and body exactly as the reference SDK sends them (§1, §2, §5).

    ``params`` are the caller's parameters in the caller's order; ``packet`` is required for
    sendEdoc (the body becomes ``packet + CRLF`` and ``hash-file`` is added).
    """
    if (packet is None) == (operation is Operation.SEND_EDOC):
        raise ValueError("a packet is given exactly for sendEdoc")
    content_type = operation.content_type
    logical: dict[str, str] = {TIMESTAMP: timestamp, SYSTEM_ID: system_id,
                               CONTENT_TYPE: content_type}
    for key, value in params:
        logical[key] = value
    if packet is not None:
        logical[HASH_FILE] = hash_file(packet)
        body = packet + CRLF
    elif operation in (Operation.GET_EDOC, Operation.UPDATE_STATUS, Operation.COUNT_RECEIVE_EDOC,
                       Operation.COUNT_RECEIVE_STATUS):
        body = b"{}"
    else:
        body = b""
    order = sdk_key_order(logical)
    pairs = [(k, logical[k]) for k in order]
    signed = sign_header_json(pairs)
    # Where the SDK puts the plain Content-Type: sendEdoc (HttpURLConnection) first, in place of
    # the multipart type it set first; the other calls (Apache HttpClient default headers) just
    # before XroadVnpt-Content-Type, as the SDK's header loop meets it.
    headers: list[tuple[str, str]] = []
    if operation is Operation.SEND_EDOC:
        headers.append((CONTENT_TYPE, content_type))
    for k, v in pairs:
        if k == CONTENT_TYPE and operation is not Operation.SEND_EDOC:
            headers.append((CONTENT_TYPE, content_type))
        headers.append((PREFIX + k, v))
    headers.extend([
        (SIGN_HEADER_KEY, ";".join(order)),
        (SIGN_HEADER, signed),
        (HASH_HEADER, hash_header(secret, signed.encode("utf-8"))),
        ("User-Agent", USER_AGENT),
        (PREFIX + "version", SDK_VERSION),
    ])
    return SignedRequest(path=operation.value, headers=tuple(headers), body=body)


# --- §3 server-side verification -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """A request whose HMAC held: only signed values, looked up case-insensitively."""

    operation: Operation
    system_id: str
    signed: Mapping[str, str]
    """Signed logical keys (as spelled) -> values; stale keys included, ignore them."""
    replay_key: str
    """The request's HMAC: identical for a byte-identical replay (seen-request cache key)."""
    packet: bytes | None
    """sendEdoc: the body minus its one trailing CR LF, matched to the signed hash-file."""
    effective: Mapping[str, str]
    """Lower-cased key -> the signed value its first header carried (rule 5)."""

    def param(self, name: str) -> str | None:
        """A signed parameter of THIS operation (``docId``/``docid`` alike), else ``None``;
        with both spellings signed, the value of the first header (rule 5)."""
        if name.lower() not in self.operation.parameters:
            return None
        return self.effective.get(name.lower())

    def require(self, name: str) -> str:
        value = self.param(name)
        if value is None or value == "":
            raise errors.AxisRequestInvalid(f"signed parameter {name!r} is missing",
                                            detail={"parameter": name})
        return value


SecretLookup = Callable[[str], bytes | None]
"""System id -> its HMAC secret, or ``None`` for an unknown system."""


HeaderTable = Mapping[str, Sequence[bytes]]
"""Lower-cased header name -> its distinct values, in arrival order."""


def _header_table(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, list[bytes]]:
    table: dict[str, list[bytes]] = {}
    for raw_name, value in raw_headers:
        values = table.setdefault(raw_name.decode("latin-1").strip().lower(), [])
        if value not in values:
            values.append(value)
    return table


def _single(headers: HeaderTable, name: str) -> bytes | None:
    """A protocol header (systemid, the signature headers): absent, or exactly one value."""
    values = headers.get(name.lower(), ())
    if len(values) > 1:
        raise errors.AxisRequestInvalid(f"header {name!r} given twice with different values")
    return values[0] if values else None


def _decode(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.AxisAuthFailed(f"{what} is not UTF-8") from exc


def verify_request(
    operation: Operation,
    raw_headers: Iterable[tuple[bytes, bytes]],
    body: bytes,
    *,
    secret_for: SecretLookup,
) -> VerifiedRequest:
    """Check a request's headers and body in the order of §3; raise ``axis_auth_failed`` or
    ``axis_request_invalid``. Never checks the timestamp's age (rule 4)."""
    headers = _header_table(raw_headers)
    # (1) the system and its secret
    system_raw = _single(headers, PREFIX + SYSTEM_ID)
    if system_raw is None:
        raise errors.AxisAuthFailed("no XroadVnpt-systemid header")
    system_id = _decode(system_raw, "systemid").strip()
    secret = secret_for(system_id)
    if secret is None:
        raise errors.AxisAuthFailed("unknown system id", detail={"system_id": system_id})
    # (2)+(3) HMAC over the raw bytes of sign-header, constant-time, lowercase hex
    signed_raw = _single(headers, SIGN_HEADER)
    given = _single(headers, HASH_HEADER)
    if signed_raw is None or given is None:
        raise errors.AxisAuthFailed("sign-header or hash-header missing")
    if len(signed_raw) > MAX_SIGNED_HEADER_BYTES:
        raise errors.AxisRequestInvalid("sign-header too long")
    expected = hash_header(secret, signed_raw)
    if not hmac.compare_digest(expected.encode("ascii"), given.strip().lower()):
        raise errors.AxisAuthFailed("hash-header does not match", detail={"system_id": system_id})
    # (4) the signed map: keys = listed keys in order, each equal to its header
    signed, effective = _signed_map(headers, _decode(signed_raw, "sign-header"), system_id)
    # (5) hash-file over the body minus one CR LF
    packet: bytes | None = None
    if operation is Operation.SEND_EDOC:
        if not body.endswith(CRLF):
            raise errors.AxisRequestInvalid("the sendEdoc body does not end with CR LF")
        packet = body[: -len(CRLF)]
        signed_hash = signed.get(HASH_FILE)
        if signed_hash is None:
            raise errors.AxisRequestInvalid("sendEdoc without a signed hash-file")
        if not hmac.compare_digest(hash_file(packet).encode(), signed_hash.encode()):
            raise errors.AxisAuthFailed("hash-file does not match the body",
                                        detail={"system_id": system_id})
    # (6) stale keys are kept in ``signed`` but ``param`` only reads the operation's own;
    # (7) no freshness check on ``timestamp``.
    return VerifiedRequest(operation=operation, system_id=system_id, signed=signed,
                           replay_key=expected, packet=packet, effective=effective)


def _signed_map(
    headers: HeaderTable, signed_text: str, system_id: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The signed keys -> values, and lower-cased key -> the value its first header carried."""
    try:
        pairs = json.loads(signed_text, object_pairs_hook=list)
    except json.JSONDecodeError as exc:
        raise errors.AxisRequestInvalid("sign-header is not JSON") from exc
    if not isinstance(pairs, list):
        raise errors.AxisRequestInvalid("sign-header is not a JSON object")
    key_list = _single(headers, SIGN_HEADER_KEY)
    if key_list is None:
        raise errors.AxisRequestInvalid("sign-header-key missing")
    keys = _decode(key_list, "sign-header-key").split(";")
    if len(keys) != len(pairs):
        raise errors.AxisRequestInvalid("sign-header-key does not list the signed keys")
    signed: dict[str, str] = {}
    for key, (name, value) in zip(keys, pairs, strict=True):
        if not isinstance(name, str) or not isinstance(value, str) or name != PREFIX + key:
            raise errors.AxisRequestInvalid("signed keys differ from sign-header-key",
                                            detail={"key": key})
        if key in signed:
            raise errors.AxisRequestInvalid("a key is signed twice", detail={"key": key})
        signed[key] = value
    # Each header name (case-insensitive) must be present and carry only signed values (rule 5).
    spellings: dict[str, list[str]] = {}
    for key in signed:
        spellings.setdefault((PREFIX + key).lower(), []).append(key)
    effective: dict[str, str] = {}
    for name, keys in spellings.items():
        allowed = {signed[k].encode("utf-8"): signed[k] for k in keys}
        values = headers.get(name, ())
        if not values or any(v not in allowed for v in values):
            raise errors.AxisRequestInvalid("a signed value differs from its header",
                                            detail={"key": keys[0]})
        effective[keys[0].lower()] = allowed[values[0]]
    if signed.get(SYSTEM_ID) != system_id:
        raise errors.AxisAuthFailed("the signed systemid differs from the header")
    if TIMESTAMP not in signed:
        raise errors.AxisRequestInvalid("no signed timestamp")
    return signed, effective


def parse_to(value: str | None) -> tuple[str, ...]:
    """The ``to`` parameter: a JSON array of strings, or one JSON string with its quotes (§1)."""
    if value is None or value.strip() == "":
        return ()
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        # A bare identifier without quotes: tolerate it, identifiers are ASCII words.
        parsed = value.strip()
    if isinstance(parsed, str):
        parsed = [parsed]
    if not isinstance(parsed, list) or not all(isinstance(x, str) for x in parsed):
        raise errors.AxisRequestInvalid("'to' is neither a JSON string nor an array of strings")
    return tuple(dict.fromkeys(x.strip() for x in parsed if x.strip()))


__all__ = [
    "ERROR_OK",
    "AckStatus",
    "MessageType",
    "Operation",
    "SignedRequest",
    "VerifiedRequest",
    "build_request",
    "encode_response",
    "fail_response",
    "hash_file",
    "hash_header",
    "java_string_hash",
    "ok_response",
    "parse_response",
    "parse_to",
    "sdk_key_order",
    "sdk_timestamp",
    "sign_header_json",
    "verify_request",
]
