"""Submit, list, detail and download through the clerk API (aiohttp test client)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlmodel import col

from docnode.app import Node, open_node
from docnode.config import load_config
from docnode.localnet import LocalNet
from docnode.store import Document, IdempotencyKey
from tests.api.kit import A_ORGAN, B_ORGAN, PDF, bearer, form, metadata, receive_from

Client = TestClient[Any, Any]


async def _submit(client: Client, token: str, meta: Any = None, **kw: Any) -> Any:
    return await client.post("/api/v1/documents", data=form(meta or metadata(), **kw),
                             headers=bearer(token))


async def test_submit_returns_202_with_ids_and_commits(client: Client, token: str,
                                                       a: Node) -> None:
    resp = await _submit(client, token)
    assert resp.status == 202
    body = await resp.json()
    assert resp.headers["Location"] == f"/api/v1/documents/{body['id']}"
    assert set(body["deliveries"]) == {B_ORGAN}
    assert body["edxml_document_id"].startswith(A_ORGAN + ",")
    async with a.store.reader() as tx:
        doc = await tx.get_document(body["id"])
        deliveries = await tx.deliveries_of(body["id"])
    assert doc is not None and doc.subject == "Kế hoạch 2027"
    assert [d.state for d in deliveries] == ["queued"]


async def test_submission_survives_a_restart_right_after_202(client: Client, token: str,
                                                             net: LocalNet) -> None:
    body = await (await _submit(client, token)).json()
    # A second, fresh opening of the same store (what a restarted node does) sees it queued.
    async with open_node(load_config(net["A"].config)) as again, again.store.reader() as tx:
        assert (await tx.get_document(body["id"])) is not None
        assert [d.state for d in await tx.deliveries_of(body["id"])] == ["queued"]


async def test_validation_lists_every_bad_field(client: Client, token: str) -> None:
    resp = await _submit(client, token, {"to": ["bad id"], "subject": "", "colour": 1,
                                         "code": "nope"})
    assert resp.status == 422
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert body["code"] == "validation_failed"
    fields = {e["field"] for e in body["errors"]}
    assert {"to[0].organ_id", "subject", "colour", "code"} <= fields


async def test_missing_parts_and_bad_metadata_are_listed(client: Client, token: str) -> None:
    resp = await _submit(client, token, files=(), raw_meta="{not json")
    body = await resp.json()
    assert resp.status == 422
    assert {e["field"] for e in body["errors"]} == {"metadata", "file"}


async def test_not_multipart_is_415(client: Client, token: str) -> None:
    resp = await client.post("/api/v1/documents", json=metadata(), headers=bearer(token))
    assert resp.status == 415
    assert (await resp.json())["code"] == "unsupported_media_type"


async def test_unknown_recipient_is_refused_before_queueing(client: Client, token: str,
                                                            a: Node) -> None:
    resp = await _submit(client, token, metadata(to=["000.00.00.Z99"]))
    assert resp.status == 422
    assert (await resp.json())["code"] == "unknown_recipient"
    async with a.store.reader() as tx:
        assert list(await tx.list_documents()) == []


async def test_idempotent_retry_gives_the_first_answer(client: Client, token: str,
                                                       a: Node) -> None:
    headers = {**bearer(token), "Idempotency-Key": "k-1"}
    first = await client.post("/api/v1/documents", data=form(metadata()), headers=headers)
    again = await client.post("/api/v1/documents", data=form(metadata()), headers=headers)
    assert first.status == again.status == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await first.json()) == (await again.json())
    async with a.store.reader() as tx:
        assert len(list(await tx.list_documents())) == 1


async def test_same_key_different_request_is_409(client: Client, token: str) -> None:
    headers = {**bearer(token), "Idempotency-Key": "k-2"}
    assert (await client.post("/api/v1/documents", data=form(metadata()),
                              headers=headers)).status == 202
    other = await client.post("/api/v1/documents", data=form(metadata(subject="Khác")),
                              headers=headers)
    assert other.status == 409
    assert (await other.json())["code"] == "conflict"


async def test_key_commits_with_the_document(client: Client, token: str, a: Node) -> None:
    """The key is written in the submit's own transaction: the document and its key exist
    together, and a keyed request for a document already sent without a key is a different
    request (409), never a second document."""
    headers = {**bearer(token), "Idempotency-Key": "k-3"}
    first = await client.post("/api/v1/documents", data=form(metadata()), headers=headers)
    assert first.status == 202
    doc_id = (await first.json())["id"]
    async with a.store.reader() as tx:
        rows = (await tx.session.execute(
            select(IdempotencyKey).where(col(IdempotencyKey.key) == "k-3"))).scalars().all()
    assert [r.document_id for r in rows] == [doc_id]

    await _submit(client, token, metadata(code="9/VP"))
    keyed = await client.post("/api/v1/documents", data=form(metadata(code="9/VP")),
                              headers={**bearer(token), "Idempotency-Key": "k-4"})
    assert keyed.status == 409
    async with a.store.reader() as tx:
        docs = (await tx.session.execute(
            select(Document).where(col(Document.code) == "9/VP"))).scalars().all()
    assert len(docs) == 1


async def test_resubmitting_without_key_is_conflict(client: Client, token: str) -> None:
    await _submit(client, token)
    again = await _submit(client, token)
    assert again.status == 409


async def test_outbox_filters_and_pagination(client: Client, token: str) -> None:
    for i in range(5):
        resp = await _submit(client, token, metadata(code=f"{i}/VP", subject=f"Báo cáo {i}"))
        assert resp.status == 202
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get("/api/v1/outbox", params=params,
                                       headers=bearer(token))).json()
        seen.extend(i["subject"] for i in page["items"])
        assert len(page["items"]) <= 2
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"Báo cáo {i}" for i in reversed(range(5))]
    q = await (await client.get("/api/v1/outbox", params={"q": "cáo 3"},
                                headers=bearer(token))).json()
    assert [i["subject"] for i in q["items"]] == ["Báo cáo 3"]
    st = await (await client.get("/api/v1/outbox", params={"status": "queued",
                                                           "counterparty": B_ORGAN},
                                 headers=bearer(token))).json()
    assert len(st["items"]) == 5
    assert st["items"][0]["deliveries"][0]["state"] == "queued"
    none = await (await client.get("/api/v1/outbox", params={"until": "2000-01-01"},
                                   headers=bearer(token))).json()
    assert none["items"] == []


async def test_bad_list_parameters_are_listed(client: Client, token: str) -> None:
    resp = await client.get("/api/v1/outbox", params={"limit": "0", "since": "yesterday",
                                                      "cursor": "!!"}, headers=bearer(token))
    assert resp.status == 422
    assert {e["field"] for e in (await resp.json())["errors"]} == {"limit", "since", "cursor"}


async def test_inbox_detail_packet_and_attachment(client: Client, token: str, a: Node,
                                                  b: Node) -> None:
    doc_id = await receive_from(b, a)
    page = await (await client.get("/api/v1/inbox", params={"counterparty": B_ORGAN,
                                                            "status": "01"},
                                   headers=bearer(token))).json()
    assert [i["id"] for i in page["items"]] == [doc_id]
    assert page["items"][0]["status_code"] == "01"
    detail = await (await client.get(f"/api/v1/documents/{doc_id}",
                                     headers=bearer(token))).json()
    assert detail["direction"] == "in" and detail["verification"] == "verified"
    assert [e["kind"] for e in detail["timeline"]][:2] == ["received", "receipt_sent"]
    assert detail["attachments"][0]["name"] == "to-trinh.pdf"
    packet = await client.get(f"/api/v1/documents/{doc_id}/packet", headers=bearer(token))
    assert packet.status == 200 and packet.content_type == "application/xml"
    assert b"Signature" in await packet.read()
    att = await client.get(detail["attachments"][0]["href"], headers=bearer(token))
    assert att.status == 200 and await att.read() == PDF
    assert att.content_type == "application/pdf"
    missing = await client.get(f"/api/v1/documents/{doc_id}/attachments/9",
                               headers=bearer(token))
    assert missing.status == 404 and (await missing.json())["code"] == "not_found"


async def test_outgoing_detail_has_per_recipient_timeline(client: Client, token: str) -> None:
    body = await (await _submit(client, token)).json()
    detail = await (await client.get(body["location"], headers=bearer(token))).json()
    assert detail["direction"] == "out"
    [delivery] = detail["deliveries"]
    assert delivery["recipient_organ_id"] == B_ORGAN
    assert [e["kind"] for e in delivery["timeline"]] == ["queued"]
    assert detail["timeline"][0]["kind"] == "submitted"
    assert detail["timeline"][0]["evidence"]["packet_sha256"] == detail["packet_sha256"]


async def test_unknown_document_is_404(client: Client, token: str) -> None:
    resp = await client.get("/api/v1/documents/nope", headers=bearer(token))
    assert resp.status == 404
    assert (await resp.json())["code"] == "not_found"


async def test_unknown_status_filter_matches_nothing(client: Client, token: str) -> None:
    await _submit(client, token)
    for params in ({"status": "no-such-state"}, {"status": "99"}):
        resp = await client.get("/api/v1/outbox", params=params, headers=bearer(token))
        assert resp.status == 200 and (await resp.json())["items"] == []


async def test_bad_idempotency_key_is_422(client: Client, token: str) -> None:
    resp = await client.post("/api/v1/documents", data=form(metadata()),
                             headers={**bearer(token), "Idempotency-Key": "has space"})
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["field"] == "Idempotency-Key"


async def test_unknown_route_and_method_are_problems(client: Client, token: str) -> None:
    missing = await client.get("/api/v1/nothing-here", headers=bearer(token))
    assert missing.status == 404 and missing.content_type == "application/problem+json"
    wrong = await client.delete("/api/v1/outbox", headers=bearer(token))
    assert wrong.status == 405 and (await wrong.json())["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]


async def test_new_key_on_a_colliding_different_document_is_409(client: Client,
                                                                 token: str) -> None:
    headers = {**bearer(token), "Idempotency-Key": "k-4"}
    assert (await client.post("/api/v1/documents", data=form(metadata()),
                              headers=headers)).status == 202
    # Same Code and date (so the same DocumentId), other content, another key: not a retry.
    other = await client.post("/api/v1/documents", data=form(metadata(subject="Khác")),
                              headers={**bearer(token), "Idempotency-Key": "k-5"})
    assert other.status == 409 and (await other.json())["code"] == "conflict"


async def test_concurrent_retries_with_one_key_make_one_document(client: Client, token: str,
                                                                 a: Node) -> None:
    headers = {**bearer(token), "Idempotency-Key": "k-6"}
    answers = await asyncio.gather(*(client.post("/api/v1/documents", data=form(metadata()),
                                                 headers=headers) for _ in range(4)))
    assert [r.status for r in answers] == [202] * 4
    assert len({(await r.json())["id"] for r in answers}) == 1
    async with a.store.reader() as tx:
        assert len(list(await tx.list_documents())) == 1


async def test_broken_multipart_is_415(client: Client, token: str) -> None:
    boundary = "7c5156fb04a2177cf9e322ad31ebde44"
    for body in (f"--{boundary}\r\nNone--{boundary}--\r\n", f"--{boundary}\r\n",
                 "garbage", f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nx"):
        resp = await client.post(
            "/api/v1/documents", data=body.encode(),
            headers={**bearer(token),
                     "Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert resp.status in (415, 422), (body, resp.status, await resp.text())
