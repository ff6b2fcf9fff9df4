"""VXP axis client (DESIGN §2 "vxp"): the calls an agency node makes to its axis.

Rules:
1. Every request is built by :func:`vxp_protocol.build_request`, so it looks exactly like the
   reference SDK's (headers, key order, HMAC, ``hash-file``, sendEdoc body = packet + CR LF).
   Unlike the SDK, each call gets a FRESH timestamp and carries only its own parameters: two
   calls never produce the same signed request, so an axis's seen-request cache never
   mistakes our retry for a replay.
2. The timestamp is the clock's time in UTC+7 (the SDK writes its local time; Vietnamese
   systems run on UTC+7), from the injected :class:`~docnode.clock.Clock`.
3. Timeouts, connection errors, 5xx and 429 → :class:`~docnode.errors.PeerUnavailable`
   (retried by dispatch). An answer with ``ErrorCode`` ≠ "0" → the class
   :func:`vxp_protocol.parse_response` maps it to (``axis_auth_failed``, ``replayed_request``,
   ``axis_rejected``, ``axis_error``).
4. The secret stays in this object; it is never logged, never put in an error or a repr.
5. The ``aiohttp.ClientSession`` is borrowed (created and closed by the app).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any

import aiohttp

from docnode.clock import SYSTEM_CLOCK, Clock
from docnode.errors import AxisError, PeerUnavailable
from docnode.transport import vxp_protocol as vxp
from docnode.transport.vxp_protocol import AckStatus, MessageType, Operation

VN_TZ = timezone(timedelta(hours=7))
MAX_RESPONSE_BYTES = 128 * 1024 * 1024
"""A getEdoc answer is a base64 packet: 64 MiB packets grow to ~86 MiB."""


@dataclass(frozen=True, slots=True)
class ReceivedItem:
    """One entry of getReceivedEdocList (a packet waiting for us on the axis)."""

    doc_id: str
    service_type: str
    message_type: str
    created_time: str
    updated_time: str
    from_: str
    to: str
    status: str
    status_desc: str


@dataclass(frozen=True, slots=True)
class SentItem:
    """One entry of getSentEdocList: one of our sends towards one recipient."""

    service_type: str
    message_type: str
    sender_doc_id: str
    receiver_doc_id: str
    from_code: str
    to_code: str
    title: str
    notation: str
    sent_time: str
    received_time: str
    send_status: str
    send_status_desc: str
    receive_status: str
    receive_status_desc: str


@dataclass(frozen=True, slots=True)
class Agency:
    """One entry of getAgenciesList."""

    id: str
    pid: str
    code: str
    name: str
    mail: str
    old_code: str


def _s(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    return "" if value is None else str(value)


class VxpClient:
    """One axis endpoint, one system id and its secret (rules above)."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        endpoint: str,
        system_id: str,
        secret: bytes,
        clock: Clock = SYSTEM_CLOCK,
        timeout_s: float = 30.0,
    ) -> None:
        self._session = session
        self._endpoint = endpoint.rstrip("/")
        self._system_id = system_id
        self._secret = secret
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    def __repr__(self) -> str:
        return f"VxpClient(endpoint={self._endpoint!r}, system_id={self._system_id!r})"

    @property
    def endpoint(self) -> str:
        return self._endpoint

    async def _call(
        self,
        operation: Operation,
        params: Sequence[tuple[str, str]] = (),
        *,
        packet: bytes | None = None,
    ) -> dict[str, Any]:
        request = vxp.build_request(
            operation,
            system_id=self._system_id,
            secret=self._secret,
            timestamp=vxp.sdk_timestamp(self._clock.now().astimezone(VN_TZ)),
            params=params,
            packet=packet,
        )
        url = f"{self._endpoint}/{request.path}"
        try:
            async with self._session.post(
                url, data=request.body, headers=list(request.headers), timeout=self._timeout
            ) as response:
                body = await response.content.read(MAX_RESPONSE_BYTES + 1)
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PeerUnavailable(
                f"axis {operation.value}: {type(exc).__name__}",
                detail={"operation": operation.value},
            ) from exc
        if len(body) > MAX_RESPONSE_BYTES:
            raise AxisError(f"axis {operation.value}: answer too long")
        try:
            return vxp.parse_response(body)
        except AxisError as exc:
            if status >= 500 or status == 429:
                # An unreadable or failed answer with a server error: try again later.
                raise PeerUnavailable(
                    f"axis {operation.value}: HTTP {status}",
                    detail={**exc.detail, "http_status": status, "operation": operation.value},
                ) from exc
            exc.detail.setdefault("operation", operation.value)
            raise

    # --- operations --------------------------------------------------------------------

    async def send_edoc(
        self,
        packet: bytes,
        *,
        from_: str,
        message_type: MessageType = MessageType.EDOC,
        to: Sequence[str] = (),
    ) -> str:
        """sendEdoc: push one packet (edoc or status); returns the axis DocId (evidence)."""
        params = [("from", from_), ("servicetype", vxp.SERVICE_TYPE),
                  ("messagetype", message_type.value)]
        if to:
            params.append(("to", json.dumps(list(to), separators=(",", ":"))))
        answer = await self._call(Operation.SEND_EDOC, params, packet=packet)
        doc_id = _s(answer, "DocId")
        if not doc_id:
            raise AxisError("axis sendEdoc: OK without a DocId")
        return doc_id

    async def get_received_edoc_list(
        self, message_type: MessageType = MessageType.EDOC
    ) -> list[ReceivedItem]:
        answer = await self._call(
            Operation.GET_RECEIVED_EDOC_LIST,
            [("servicetype", vxp.SERVICE_TYPE), ("messagetype", message_type.value)],
        )
        return [
            ReceivedItem(
                doc_id=_s(i, "docId"), service_type=_s(i, "serviceType"),
                message_type=_s(i, "messageType"), created_time=_s(i, "created_time"),
                updated_time=_s(i, "updated_time"), from_=_s(i, "from"), to=_s(i, "to"),
                status=_s(i, "status"), status_desc=_s(i, "status_desc"),
            )
            for i in _data_list(answer)
        ]

    async def get_edoc(self, doc_id: str) -> bytes:
        """getEdoc: the packet's bytes (the answer's ``data`` is base64)."""
        answer = await self._call(Operation.GET_EDOC, [("docId", doc_id)])
        data = answer.get("data")
        if not isinstance(data, str) or not data:
            raise AxisError("axis getEdoc: no data", detail={"doc_id": doc_id})
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise AxisError("axis getEdoc: data is not base64", detail={"doc_id": doc_id}) from exc

    async def update_status(self, doc_id: str, status: AckStatus) -> None:
        """updateStatus: the transport acknowledgement (done / fail / processing)."""
        await self._call(Operation.UPDATE_STATUS, [("docId", doc_id), ("status", status.value)])

    async def get_sent_edoc_list(
        self, message_type: MessageType = MessageType.EDOC, *, doc_id: str | None = None
    ) -> list[SentItem]:
        params = [("servicetype", vxp.SERVICE_TYPE), ("messagetype", message_type.value)]
        if doc_id is not None:
            params.append(("docId", doc_id))
        answer = await self._call(Operation.GET_SENT_EDOC_LIST, params)
        return [
            SentItem(
                service_type=_s(i, "serviceType"), message_type=_s(i, "messageType"),
                sender_doc_id=_s(i, "senderDocId"), receiver_doc_id=_s(i, "receiverDocId"),
                from_code=_s(i, "fromCode"), to_code=_s(i, "toCode"), title=_s(i, "title"),
                notation=_s(i, "notation"), sent_time=_s(i, "sentTime"),
                received_time=_s(i, "receivedTime"), send_status=_s(i, "sendStatus"),
                send_status_desc=_s(i, "sendStatusDesc"), receive_status=_s(i, "receiveStatus"),
                receive_status_desc=_s(i, "receiveStatusDesc"),
            )
            for i in _data_list(answer)
        ]

    async def get_agencies_list(self) -> list[Agency]:
        answer = await self._call(Operation.GET_AGENCIES_LIST)
        return [
            Agency(id=_s(i, "id"), pid=_s(i, "pid"), code=_s(i, "code"), name=_s(i, "name"),
                   mail=_s(i, "mail"), old_code=_s(i, "oldCode") or _s(i, "code102"))
            for i in _data_list(answer)
        ]

    async def count_receive_edoc(self) -> int:
        return _count(await self._call(Operation.COUNT_RECEIVE_EDOC))

    async def count_receive_status(self) -> int:
        return _count(await self._call(Operation.COUNT_RECEIVE_STATUS))


def _data_list(answer: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    data = answer.get("data")
    if data is None or data == "":
        return []
    if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
        raise AxisError("axis list: data is not an array of objects")
    return data


def _count(answer: Mapping[str, Any]) -> int:
    value = answer.get("count")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise AxisError("axis count: no count")
    try:
        return int(value)
    except ValueError as exc:
        raise AxisError("axis count: not a number") from exc
