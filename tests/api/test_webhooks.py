"""Webhooks: subscription CRUD through the API, signed events in order to a real receiver
(an aiohttp server on loopback), a failing receiver getting them later, and the log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlmodel import col

from docnode.api.tables import WebhookCursor, WebhookDelivery
from docnode.api.webhook_delivery import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    sign,
    verify,
    with_webhooks,
)
from docnode.api.webhooks import BATCH, CURSOR_ID, WebhookRelay
from docnode.app import Node
from docnode.delivery import StoredPacketSender, StoreRecorder
from docnode.dispatch import Dispatcher, DispatchPolicy
from docnode.queue import RetryPolicy, SqlQueue
from docnode.store import Event
from docnode.transport.direct_client import DirectClient
from tests.api.kit import A_ORGAN, bearer, receive_from

Client = TestClient[Any, Any]
SECRET = "s3cret-for-the-test-receiver"


@dataclass
class Receiver:
    """A DMS stand-in: records what it gets; answers 503 to the first ``fail`` requests."""

    fail: int = 0
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    refused: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.refused < self.fail:
            self.refused += 1
            return web.Response(status=503)
        self.got.append((dict(request.headers), body))
        return web.Response(status=204)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _h, body in self.got]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    server = TestServer(app)
    await server.start_server()
    rec.url = str(server.make_url("/hook"))
    yield rec
    await server.close()


@pytest.fixture
async def workers(a: Node) -> AsyncIterator[WebhookRelay]:
    """A's dispatcher (packets + webhooks through one queue) and the relay, running."""
    queue = SqlQueue(a.store, policy=RetryPolicy(backoff_initial_s=0.05, backoff_max_s=0.2))
    async with aiohttp.ClientSession() as session:
        sender, recorder = with_webhooks(
            StoredPacketSender(a.store, DirectClient(session, receipts=a.service, timeout_s=1)),
            StoreRecorder(a.store, queue, actor="worker"),
            store=a.store, queue=queue, session=session, clock=a.clock)
        dispatcher = Dispatcher(queue=queue, retry_policy=queue.policy, sender=sender,
                                recorder=recorder, policy=DispatchPolicy(workers=4),
                                clock=a.clock)
        relay = WebhookRelay(a.store, clock=a.clock, on_queued=dispatcher.wake,
                             poll_interval_s=0.05)
        a.service.set_on_queued(dispatcher.wake)
        dispatcher.start()
        relay.start()
        try:
            yield relay
        finally:
            await relay.stop()
            await dispatcher.stop()


async def _until(what: str, probe: Any, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not probe():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _log_when_settled(client: Client, token: str, sub_id: str) -> dict[str, Any]:
    """The delivery log once no entry is pending (the recorder commits after the POST)."""
    for _ in range(600):
        log: dict[str, Any] = await (await client.get(
            f"/api/v1/webhooks/{sub_id}/deliveries", headers=bearer(token))).json()
        if all(d["state"] != "pending" for d in log["items"]):
            return log
        await asyncio.sleep(0.05)
    raise AssertionError("webhook deliveries still pending")


async def _subscribe(client: Client, token: str, url: str, **extra: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/webhooks", headers=bearer(token),
                             json={"url": url, "secret": SECRET, **extra})
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_crud(client: Client, token: str) -> None:
    created = await _subscribe(client, token, "http://127.0.0.1:9/hook",
                               events=["document.received"], description="DMS")
    assert created["secret"] == SECRET and created["organ_id"] == A_ORGAN
    listed = await (await client.get("/api/v1/webhooks", headers=bearer(token))).json()
    assert [s["id"] for s in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]
    url = f"/api/v1/webhooks/{created['id']}"
    shown = await (await client.get(url, headers=bearer(token))).json()
    assert "secret" not in shown and shown["events"] == ["document.received"]
    patched = await (await client.patch(url, headers=bearer(token),
                                        json={"active": False, "rotate_secret": True})).json()
    assert patched["active"] is False and patched["secret"] != SECRET
    bad = await client.patch(url, headers=bearer(token), json={"url": "ftp://x", "active": 1})
    assert bad.status == 422
    assert {e["field"] for e in (await bad.json())["errors"]} == {"url", "active"}
    assert (await client.delete(url, headers=bearer(token))).status == 204
    assert (await client.get(url, headers=bearer(token))).status == 404


async def test_create_validation(client: Client, token: str) -> None:
    resp = await client.post("/api/v1/webhooks", headers=bearer(token),
                             json={"url": "nope", "events": ["x"], "secret": "short",
                                   "colour": 1})
    assert resp.status == 422
    assert {e["field"] for e in (await resp.json())["errors"]} == {
        "url", "events[0]", "secret", "colour"}
    other = await client.post("/api/v1/webhooks", headers=bearer(token),
                              json={"url": "http://x/h", "organ_id": "000.00.00.H41"})
    assert other.status == 403


async def test_signed_events_arrive_in_order(client: Client, token: str, *, a: Node, b: Node,
                                             receiver: Receiver,
                                             workers: WebhookRelay) -> None:
    sub = await _subscribe(client, token, receiver.url)
    doc_id = await receive_from(b, a)
    workers.wake()
    for action in ("accept", "assign", "complete"):
        resp = await client.post(f"/api/v1/documents/{doc_id}/actions/{action}",
                                 headers=bearer(token))
        assert resp.status == 202
    await _until("4 events", lambda: len(receiver.got) >= 4)
    events = receiver.events()
    assert [e["type"] for e in events] == ["document.received", "status.sent", "status.sent",
                                           "status.sent"]
    assert [e["status_code"] for e in events[1:]] == ["03", "04", "06"]
    assert [e["sequence"] for e in events] == sorted(e["sequence"] for e in events)
    assert all(e["document"]["id"] == doc_id for e in events)
    for headers, body in receiver.got:
        assert verify(SECRET, body, headers[SIGNATURE_HEADER])
        assert not verify("another secret", body, headers[SIGNATURE_HEADER])
        assert headers[EVENT_HEADER] == json.loads(body)["type"]
        assert headers[DELIVERY_HEADER] == json.loads(body)["id"]
    log = await _log_when_settled(client, token, sub["id"])
    assert [d["state"] for d in log["items"]] == ["delivered"] * 4
    assert [d["last_status"] for d in log["items"]] == [204] * 4


async def test_failing_receiver_gets_them_later_in_order(client: Client, token: str, *,
                                                         a: Node, b: Node,
                                                         receiver: Receiver,
                                                         workers: WebhookRelay) -> None:
    receiver.fail = 3
    sub = await _subscribe(client, token, receiver.url, events=["document.received"])
    first = await receive_from(b, a, code="1/STC")
    second = await receive_from(b, a, code="2/STC")
    workers.wake()
    await _until("2 events after the outage", lambda: len(receiver.got) >= 2)
    assert receiver.refused == 3
    assert [e["document"]["id"] for e in receiver.events()] == [first, second]
    log = await _log_when_settled(client, token, sub["id"])
    assert {d["state"] for d in log["items"]} == {"delivered"}
    assert max(d["attempts"] for d in log["items"]) > 1
    # The log pages newest first.
    page = await (await client.get(f"/api/v1/webhooks/{sub['id']}/deliveries",
                                   params={"limit": "1"}, headers=bearer(token))).json()
    assert page["items"][0]["document_id"] == second and page["next_before"] is not None


async def test_inactive_subscription_gets_nothing(client: Client, token: str, *, a: Node,
                                                  b: Node, receiver: Receiver,
                                                  workers: WebhookRelay) -> None:
    receiver.fail = 10**6  # keep the first event pending while we switch the hook off
    sub = await _subscribe(client, token, receiver.url, events=["document.received"])
    await receive_from(b, a)
    workers.wake()
    await _until("a refused attempt", lambda: receiver.refused >= 1)
    await client.patch(f"/api/v1/webhooks/{sub['id']}", headers=bearer(token),
                       json={"active": False})
    log = await _log_when_settled(client, token, sub["id"])
    assert [(d["state"], d["last_error"]) for d in log["items"]] == [
        ("failed", "peer_rejected")]
    assert receiver.got == []


def test_signature_format() -> None:
    header = sign("k", b"{}", timestamp=1700000000)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify("k", b"{}", header) and not verify("k", b"{ }", header)
    assert not verify("k", b"{}", "garbage")


async def test_without_subscriptions_the_relay_passes_events_and_announces_none(
        *, a: Node, b: Node) -> None:
    await receive_from(b, a)
    relay = WebhookRelay(a.store, clock=a.clock, on_queued=lambda: None)
    assert 0 < await relay.relay_once() < BATCH
    assert await relay.relay_once() == 0
    async with a.store.reader() as tx:
        cursor = await tx.session.get(WebhookCursor, CURSOR_ID)
        last = (await tx.session.execute(select(func.max(col(Event.id))))).scalar()
        deliveries = (await tx.session.execute(select(func.count()).select_from(
            WebhookDelivery))).scalar()
    assert cursor is not None and cursor.last_event_id == last
    assert deliveries == 0
