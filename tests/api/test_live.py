"""The API on real running nodes (``docnode run`` subprocesses on loopback): a submission
answered 202 survives a crash right after the answer, webhooks reach a DMS over HTTP, and
neither the token nor the webhook secret shows in the node's log."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from docnode.api.webhook_delivery import SIGNATURE_HEADER, verify
from docnode.localnet import LocalNet, LocalNode
from tests.api.kit import A_ORGAN, B_ORGAN, form, metadata

SECRET = "live-test-webhook-secret-0123456789"


def call(node: LocalNode, token: str, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    """One API request from sync test code."""

    async def go() -> tuple[int, Any]:
        async with aiohttp.ClientSession() as s, s.request(
                method, node.api_url + path, headers={"Authorization": f"Bearer {token}"},
                **kw) as resp:
            return resp.status, await resp.json(content_type=None)

    return asyncio.run(go())


def wait(what: str, probe: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def net(tmp_path: Path) -> Iterator[tuple[LocalNet, dict[str, str]]]:
    net = LocalNet.create(tmp_path / "net", [("A", A_ORGAN), ("B", B_ORGAN)])
    tokens = {n.name: n.cli_json("tokens", "create", "-c", str(n.config), "--name", "live",
                                 "--organ-id", n.organ_id)["token"] for n in net.nodes}
    try:
        yield net, tokens
    finally:
        net.stop()


class _Hook(BaseHTTPRequestHandler):
    got: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.got.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return None


@pytest.fixture
def dms() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    got: list[tuple[dict[str, str], bytes]] = []
    handler = type("Hook", (_Hook,), {"got": got})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_accepted_submission_survives_a_crash_and_reaches_b(
        net: tuple[LocalNet, dict[str, str]],
        dms: tuple[str, list[tuple[dict[str, str], bytes]]]) -> None:
    nodes, tokens = net
    a, b = nodes["A"], nodes["B"]
    url, got = dms
    b.start()
    status, sub = call(b, tokens["B"], "POST", "/api/v1/webhooks",
                       json={"url": url, "secret": SECRET})
    assert status == 201
    # A is started, answers 202, and is killed at once (no graceful shutdown).
    a.start()
    status, sent = call(a, tokens["A"], "POST", "/api/v1/documents",
                        data=form(metadata(subject="Sống sót sau sự cố")))
    assert status == 202
    a.kill()
    a.start()

    def arrived() -> Any:
        _s, page = call(b, tokens["B"], "GET", "/api/v1/inbox")
        return page["items"]

    [item] = wait("the document in B's inbox", arrived)
    assert item["subject"] == "Sống sót sau sự cố" and item["counterparty"] == A_ORGAN
    # B's DMS was told, signed with the subscription's secret.
    headers, body = wait("the webhook", lambda: got and got[0])
    event = json.loads(body)
    assert event["type"] == "document.received" and event["document"]["id"] == item["id"]
    assert verify(SECRET, body, headers[SIGNATURE_HEADER])
    _s, log = call(b, tokens["B"], "GET", f"/api/v1/webhooks/{sub['id']}/deliveries")
    assert log["items"][0]["event_type"] == "document.received"
    # A sees the delivery with its receipt as evidence.
    assert wait("A's delivered state", lambda: call(
        a, tokens["A"], "GET", f"/api/v1/documents/{sent['id']}")[1]["deliveries"][0][
        "receipt_sha256"])
    nodes.stop()
    for node in (a, b):
        text = (node.directory / "node.log").read_text("utf-8", "replace")
        assert tokens[node.name] not in text and SECRET not in text
