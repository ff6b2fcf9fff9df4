"""The same hostile packets over real HTTP against a running node (``docnode run`` in a
subprocess): each is refused with its problem+json ``code`` (and certificate ``reason``), and
the node stays up: a valid packet posted right after is accepted (202)."""

from __future__ import annotations

import gzip
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from docnode.cli.node import init_node
from docnode.localnet import LocalNode

from .crafting import LIMITS, RECIPIENT, SENDER, Kit
from .hostile import CASES, Case, replay_base

if TYPE_CHECKING:
    from tests.conftest import Pki

PROBLEM = "application/problem+json"


def post(node: LocalNode, data: bytes, *, timeout: float = 30.0) -> tuple[int, str, bytes]:
    host, port = node.direct.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", "/edxml/v1/messages", body=data,
                     headers={"Content-Type": "application/xml"})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", "").split(";")[0], resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def node(pki: Pki, kit: Kit, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    base: Path = tmp_path_factory.mktemp("hostile-node")
    # Issued by the test PKI's CA, so the node trusts exactly what the kit signs with.
    result = init_node(base / "h41", organ_id=RECIPIENT, name="Sở Nội vụ Hà Nội",
                       ca_dir=pki.ca.directory)
    local = LocalNode("h41", RECIPIENT, base / "h41", result["direct"], result["api"])
    local.update_config({"limits": {
        "max_packet_mb": LIMITS.max_packet_bytes // (1024 * 1024),
        "max_attachments": LIMITS.max_attachments,
        "max_attachment_mb": LIMITS.max_attachment_bytes // (1024 * 1024),
        "max_total_attachment_mb": LIMITS.max_total_attachment_bytes // (1024 * 1024),
        "max_depth": LIMITS.max_depth,
        # This suite posts ~160 packets in a burst; the rate limit has its own test.
        "peer_rate_per_s": 10_000.0, "peer_burst": 10_000,
        "system_rate_per_s": 10_000.0, "system_burst": 10_000,
    }})
    local.start()
    try:
        status, _, _ = post(local, replay_base(kit))
        assert status == 202  # the packet the replay cases collide with
        yield local
    finally:
        local.stop()


@pytest.mark.parametrize("hostile", CASES.values(), ids=list(CASES))
def test_hostile_packet_over_http(hostile: Case, kit: Kit, node: LocalNode) -> None:
    status, ctype, body = post(node, hostile.build(kit))
    assert ctype == PROBLEM, body[:200]
    problem = json.loads(body)
    assert problem["code"] == hostile.http
    assert 400 <= status < 500
    if hostile.reason is not None:
        assert problem.get("reason") == hostile.reason
    # The node stays up and keeps accepting good packets.
    assert node.process is not None and node.process.poll() is None
    status, ctype, _ = post(node, kit.signed())
    assert (status, ctype) == (202, "application/xml")


def test_identical_bytes_again_get_the_original_receipt(kit: Kit, node: LocalNode) -> None:
    data = kit.signed()
    first = post(node, data)
    again = post(node, data)
    assert (first[0], again[0]) == (202, 200)
    assert first[2] == again[2]


def test_replay_is_logged_as_a_security_event(kit: Kit, node: LocalNode) -> None:
    replay = CASES["replay_same_document_id_other_bytes"].build(kit)
    status, _, body = post(node, replay)
    assert (status, json.loads(body)["code"]) == (409, "duplicate_conflict")
    assert node.log_path is not None
    events = []
    for line in node.log_path.read_text("utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    conflicts = [e for e in events if e.get("event") == "duplicate_conflict"]
    assert conflicts and all(e.get("security") is True for e in conflicts)
    assert all(e.get("from_organ_id") == SENDER for e in conflicts)


def test_gzip_bomb_is_refused_while_decompressing(kit: Kit, node: LocalNode) -> None:
    """~64 MiB of zeros in a ~64 KiB gzip body: the decompressed cap (the packet limit) stops
    it, and the node goes on accepting packets."""
    bomb = gzip.compress(b"<edXML>" + bytes(64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < LIMITS.max_packet_bytes
    host, port = node.direct.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("POST", "/edxml/v1/messages", body=bomb,
                     headers={"Content-Type": "application/xml", "Content-Encoding": "gzip"})
        resp = conn.getresponse()
        assert resp.status == 413
        assert json.loads(resp.read())["code"] == "too_large"
    finally:
        conn.close()
    assert post(node, kit.signed())[0] == 202


def _log_events(node: LocalNode) -> list[dict[str, object]]:
    assert node.log_path is not None
    events = []
    for line in node.log_path.read_text("utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def test_forgeries_are_logged_as_security_events(kit: Kit, node: LocalNode) -> None:
    """Tampering and untrusted signers are alertable (``security: true``); a merely broken
    sender (malformed XML) is not."""
    for name in ("tampered_subject_after_signing", "cert_other_root_same_name",
                 "from_is_not_the_certificate_organ_id", "garbage_bytes"):
        post(node, CASES[name].build(kit))
    refused = [e for e in _log_events(node) if e.get("event") == "receive_refused"]
    security = {e.get("code") for e in refused if e.get("security") is True}
    plain = {e.get("code") for e in refused if e.get("security") is not True}
    assert {"signature_invalid", "certificate_untrusted", "sender_mismatch"} <= security
    assert "malformed_xml" in plain and "malformed_xml" not in security
