"""Shared pieces of the axis tests: an axis on loopback (real aiohttp listener, real SQLite),
two registered client systems and signed packets from the session PKI.

System ``sys.a`` speaks for 000.00.00.G22 (``pki.valid``), ``sys.b`` for 000.00.00.H41
(``pki.valid_rsa``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from docnode.axis.hub import AxisPolicy
from docnode.axis.runtime import AxisLocation, AxisParts, open_axis, serve_axis
from docnode.config import HostPort
from docnode.transport.vxp_client import VxpClient
from docnode.verification import SIGNATURE_REQUIRED, build_context
from envelopes.edxml import encode_edoc
from envelopes.model import (
    Attachment,
    Code,
    DocumentType,
    Edoc,
    Organization,
    PromulgationInfo,
    ResponseFor,
    StaffInfo,
    StatusCode,
    StatusMessage,
    TraceHeader,
)
from envelopes.organ import OrganId
from envelopes.packet import pack_edoc, pack_status
from tests.conftest import Pki

A_ORGAN, B_ORGAN = "000.00.00.G22", "000.00.00.H41"
SECRETS = {"sys.a": b"secret-of-system-a", "sys.b": b"secret-of-system-b"}
MASTER_KEY_ENV = {"DOCNODE_AXIS_MASTER_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
_serial = itertools.count(1)


def edoc(pki: Pki, *, sender: str = A_ORGAN, recipient: str = B_ORGAN,
         subject: str = "Về việc thử nghiệm trục liên thông",
         also: tuple[str, ...] = ()) -> Edoc:
    number = next(_serial)
    code = Code(str(number), "BNV-VP")
    return Edoc(
        from_=Organization(OrganId.parse(sender), organ_name="Văn phòng Bộ Nội vụ"),
        to=tuple(Organization(OrganId.parse(r), organ_name="Sở Nội vụ Hà Nội")
                 for r in (recipient, *also)),
        document_id=f"{sender},2026/12/01,{code}",
        code=code,
        promulgation_info=PromulgationInfo("Hà Nội", date(2026, 12, 1)),
        document_type=DocumentType(1, 0, "Công văn"),
        subject=subject,
        trace_headers=(TraceHeader(OrganId.parse(sender), pki.at - timedelta(minutes=5)),),
        attachments=(Attachment("cong-van.pdf", b"%PDF-1.7 axis test", "application/pdf"),),
    )


def signed_edoc(pki: Pki, *, identity: str = "valid", **kw: Any) -> bytes:
    issued = pki.identities[identity]
    return pack_edoc(edoc(pki, **kw), key=issued.key, certificate=issued.certificate,
                     chain=issued.chain)


def unsigned_edoc(pki: Pki, **kw: Any) -> bytes:
    return encode_edoc(edoc(pki, **kw))


def signed_status(pki: Pki, about: Edoc, code: StatusCode, *, identity: str = "valid_rsa",
                  sender: str = B_ORGAN, at: datetime | None = None) -> bytes:
    issued = pki.identities[identity]
    status = StatusMessage(
        from_=Organization(OrganId.parse(sender), organ_name="Sở Nội vụ Hà Nội"),
        response_for=ResponseFor(about.from_.organ_id, str(about.code),
                                 about.promulgation_info.promulgation_date, about.document_id),
        staff_info=StaffInfo(department="Văn thư", staff="Nguyễn Văn A"),
        status_code=code,
        description="Đã nhận",
        timestamp=at or pki.at,
    )
    return pack_status(status, key=issued.key, certificate=issued.certificate,
                       chain=issued.chain)


@dataclass(frozen=True)
class PinnedClock:
    """A clock stopped at one instant (what an axis saw at an earlier time)."""

    at: datetime

    def now(self) -> datetime:
        return self.at


@dataclass
class RunningAxis:
    parts: AxisParts
    url: str
    session: aiohttp.ClientSession

    def client(self, system_id: str, *, secret: bytes | None = None) -> VxpClient:
        return VxpClient(session=self.session, endpoint=self.url, system_id=system_id,
                         secret=SECRETS[system_id] if secret is None else secret)


@contextlib.asynccontextmanager
async def running_axis(pki: Pki, base: Path, *, signature_policy: str = SIGNATURE_REQUIRED,
                       policy: AxisPolicy | None = None) -> AsyncIterator[RunningAxis]:
    trust = pki.write_trust(base / "trust")
    context = build_context(anchors=[trust.anchor], intermediates=[trust.intermediates],
                            crls=[trust.crl, trust.root_crl], revocation="required",
                            signature_policy=signature_policy)
    location = AxisLocation.in_dir(base / "axis")
    async with open_axis(location, verification=context, environ=MASTER_KEY_ENV,
                         policy=policy or AxisPolicy()) as parts:
        await parts.hub.register_system("sys.a", SECRETS["sys.a"], [A_ORGAN])
        await parts.hub.register_system("sys.b", SECRETS["sys.b"], [B_ORGAN])
        stop = asyncio.Event()
        bound: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve_axis(
            parts, HostPort("127.0.0.1", 0), max_packet_bytes=64 << 20, stop=stop,
            on_started=bound.set_result))
        host, port = await bound
        async with aiohttp.ClientSession() as session:
            try:
                yield RunningAxis(parts, f"http://{host}:{port}", session)
            finally:
                stop.set()
                await task
