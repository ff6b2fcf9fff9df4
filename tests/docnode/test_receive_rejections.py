"""Each receive-path rejection code, produced by a crafted packet POSTed over HTTP to a
running node (``docnode run`` subprocess) that trusts the test PKI. Codes, not messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from docnode.cli.node import init_node
from docnode.localnet import FAST_DELIVERY, LocalNode
from docnode.metadata import FileInput, edoc_from_metadata
from docnode.transport.direct_server import MESSAGES_PATH
from envelopes.edxml import encode_edoc
from envelopes.model import Edoc, Organization, TraceHeader
from envelopes.organ import OrganId
from envelopes.packet import pack_edoc
from envelopes.signature import sign
from tests.conftest import Pki

G22, H41 = "000.00.00.G22", "000.00.00.H41"


@pytest.fixture(scope="module")
def receiver(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    base = tmp_path_factory.mktemp("rejections")
    info = init_node(base / "b", organ_id=H41, ca_dir=pki.ca.directory)
    node = LocalNode("B", H41, base / "b", info["direct"], info["api"])
    node.update_config({"delivery": dict(FAST_DELIVERY), "limits": {"max_packet_mb": 1}})
    node.start()
    yield node
    node.stop()


def _edoc(*, sender: str = G22, to: str = H41, stamp: datetime | None = None,
          tag: str = "R") -> Edoc:
    now = datetime.now(UTC)
    edoc = edoc_from_metadata(
        {"to": [to], "subject": "Kiểm tra", "code": f"{tag}/REJ"},
        [FileInput("x.pdf", b"%PDF-1.4 x", "application/pdf")], now=now,
        sender=Organization(organ_id=OrganId.parse(sender), organ_name="A"))
    if stamp is not None:
        from dataclasses import replace

        edoc = replace(edoc, trace_headers=(TraceHeader(OrganId.parse(sender), stamp),))
    return edoc


def _signed(pki: Pki, name: str, edoc: Edoc) -> bytes:
    ident = pki.identities[name]
    return pack_edoc(edoc, key=ident.key, certificate=ident.certificate, chain=ident.chain)


async def _post(node: LocalNode, data: bytes, ctype: str = "application/xml") -> tuple[int, dict]:  # type: ignore[type-arg]
    async with aiohttp.ClientSession() as s, s.post(
        node.direct_url + MESSAGES_PATH, data=data, headers={"Content-Type": ctype}
    ) as resp:
        body = await resp.read()
        if resp.content_type != "application/problem+json":
            return resp.status, {"body": body.decode()[:80]}
        return resp.status, json.loads(body)


def _cases(pki: Pki) -> dict[str, tuple[bytes, int, str, str | None]]:
    valid = _signed(pki, "valid", _edoc(tag="OK"))
    tampered = valid.replace("Kiểm tra".encode(), "Kiểm trA".encode(), 1)
    unsigned = encode_edoc(_edoc(tag="U"))
    # Signed correctly, but the signed content breaks the schema (no Subject).
    broken = encode_edoc(_edoc(tag="S")).replace(b"<edXML:Subject>", b"<edXML:Subjectx>", 1)
    broken = broken.replace(b"</edXML:Subject>", b"</edXML:Subjectx>", 1)
    ident = pki.identities["valid"]
    return {
        "malformed": (b"<edXML><unclosed>", 400, "malformed_xml", None),
        "doctype": (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', 400,
                    "forbidden_xml", None),
        "too_large": (b"<x>" + b"a" * (1024 * 1024 + 10) + b"</x>", 413, "too_large", None),
        "unsigned": (unsigned, 422, "signature_missing", None),
        "tampered": (tampered, 422, "signature_invalid", None),
        "schema": (sign(broken, key=ident.key, certificate=ident.certificate,
                        chain=ident.chain), 422, "schema_invalid", None),
        "expired": (_signed(pki, "expired", _edoc(tag="E")), 422, "certificate_untrusted",
                    "expired"),
        "wrong_eku": (_signed(pki, "wrong_eku", _edoc(tag="K")), 422, "certificate_untrusted",
                      "wrong_eku"),
        "other_root": (_signed(pki, "other_root_same_name", _edoc(tag="O")), 422,
                       "certificate_untrusted", "untrusted_root"),
        "revoked": (_signed(pki, "revoked", _edoc(tag="V")), 422, "certificate_revoked",
                    "revoked"),
        "sender": (_signed(pki, "valid", _edoc(sender="000.00.00.X11", tag="M")), 403,
                   "sender_mismatch", None),
        "recipient": (_signed(pki, "valid", _edoc(to="000.00.00.Z99", tag="N")), 422,
                      "unknown_recipient", None),
        "stale": (_signed(pki, "valid", _edoc(stamp=datetime.now(UTC) - timedelta(days=30),
                                              tag="T")), 422, "stale_packet", None),
        "future": (_signed(pki, "valid", _edoc(stamp=datetime.now(UTC) + timedelta(hours=2),
                                               tag="F")), 422, "stale_packet", None),
    }


CASES = ["malformed", "doctype", "too_large", "unsigned", "tampered", "schema", "expired",
         "wrong_eku", "other_root", "revoked", "sender", "recipient", "stale", "future"]


@pytest.mark.parametrize("case", CASES)
async def test_rejection_code(receiver: LocalNode, pki: Pki, case: str) -> None:
    data, status, code, reason = _cases(pki)[case]
    got_status, problem = await _post(receiver, data)
    assert (got_status, problem.get("code")) == (status, code), problem
    if reason is not None:
        assert problem["reason"] == reason
    assert problem["type"].endswith(code) and problem["status"] == status


async def test_wrong_media_type(receiver: LocalNode) -> None:
    status, problem = await _post(receiver, b"{}", ctype="application/json")
    assert (status, problem["code"]) == (415, "unsupported_media_type")


async def test_valid_packet_is_accepted_and_node_stays_up(receiver: LocalNode,
                                                          pki: Pki) -> None:
    status, _ = await _post(receiver, _signed(pki, "valid", _edoc(tag="GOOD")))
    assert status == 202
    assert receiver.process is not None and receiver.process.poll() is None
