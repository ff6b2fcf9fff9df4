"""Clerk actions on incoming documents and changes to outgoing ones, through the API."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from docnode.app import Node
from tests.api.kit import B_ORGAN, bearer, form, metadata, receive_from

Client = TestClient[Any, Any]


@pytest.mark.parametrize(("action", "code"), [("accept", "03"), ("assign", "04"),
                                              ("processing", "05"), ("complete", "06"),
                                              ("agree-change", "15")])
async def test_status_actions_queue_a_signed_status(client: Client, token: str, *, a: Node,
                                                    b: Node, action: str, code: str) -> None:
    doc_id = await receive_from(b, a)
    resp = await client.post(f"/api/v1/documents/{doc_id}/actions/{action}",
                             headers=bearer(token), json={"staff_info": {"staff": "Lan"}})
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    assert body["status_code"] == code and len(body["status_document_ids"]) == 1
    detail = await (await client.get(f"/api/v1/documents/{doc_id}",
                                     headers=bearer(token))).json()
    assert detail["status_code"] == code
    assert detail["timeline"][-1]["kind"] == "status_sent"
    async with a.store.reader() as tx:
        sdoc = await tx.get_document(body["status_document_ids"][0])
        [d] = await tx.deliveries_of(body["status_document_ids"][0])
    assert sdoc is not None and sdoc.status_code == code
    assert d.recipient_organ_id == B_ORGAN and d.state == "queued"


@pytest.mark.parametrize("action", ["refuse", "refuse-change"])
async def test_refusals_need_a_reason(client: Client, token: str, a: Node, b: Node,
                                      action: str) -> None:
    doc_id = await receive_from(b, a)
    resp = await client.post(f"/api/v1/documents/{doc_id}/actions/{action}",
                             headers=bearer(token))
    assert resp.status == 422
    body = await resp.json()
    assert body["code"] == "validation_failed"
    assert body["errors"][0]["field"] == "reason"
    ok = await client.post(f"/api/v1/documents/{doc_id}/actions/{action}",
                           headers=bearer(token), json={"reason": "Sai thẩm quyền"})
    assert ok.status == 202


async def test_bad_action_body_lists_fields(client: Client, token: str, a: Node,
                                            b: Node) -> None:
    doc_id = await receive_from(b, a)
    resp = await client.post(f"/api/v1/documents/{doc_id}/actions/accept",
                             headers=bearer(token),
                             json={"reason": 3, "x": 1, "staff_info": {"age": 4}})
    assert resp.status == 422
    assert {e["field"] for e in (await resp.json())["errors"]} == {"reason", "x",
                                                                  "staff_info.age"}


async def test_unknown_action_is_404(client: Client, token: str, a: Node, b: Node) -> None:
    doc_id = await receive_from(b, a)
    resp = await client.post(f"/api/v1/documents/{doc_id}/actions/burn", headers=bearer(token))
    assert resp.status == 404


async def test_clerk_status_on_outgoing_document_is_conflict(client: Client,
                                                             token: str) -> None:
    sent = await (await client.post("/api/v1/documents", data=form(metadata()),
                                    headers=bearer(token))).json()
    resp = await client.post(f"/api/v1/documents/{sent['id']}/actions/accept",
                             headers=bearer(token))
    assert resp.status == 409 and (await resp.json())["code"] == "conflict"


async def test_revoke_sends_type_1_naming_the_original(client: Client, token: str,
                                                       a: Node) -> None:
    sent = await (await client.post("/api/v1/documents", data=form(metadata()),
                                    headers=bearer(token))).json()
    url = f"/api/v1/documents/{sent['id']}/revoke"
    assert (await client.post(url, headers=bearer(token))).status == 422  # reason required
    resp = await client.post(url, headers=bearer(token), json={"reason": "Ban hành nhầm"})
    assert resp.status == 202
    revo = await resp.json()
    assert revo["edxml_document_id"] == sent["edxml_document_id"] + "~revoke"
    detail = await (await client.get(revo["location"], headers=bearer(token))).json()
    assert detail["business"] == {"doc_type": 1, "reason": "Ban hành nhầm",
                                  "document_id": sent["edxml_document_id"]}
    again = await client.post(url, headers=bearer(token), json={"reason": "x"})
    assert again.status == 409


async def test_update_and_replace(client: Client, token: str) -> None:
    sent = await (await client.post("/api/v1/documents", data=form(metadata()),
                                    headers=bearer(token))).json()
    upd = await client.post(f"/api/v1/documents/{sent['id']}/update", headers=bearer(token),
                            data=form({"subject": "Kế hoạch 2027 (sửa)", "reason": "Sửa lỗi"}))
    assert upd.status == 202, await upd.text()
    u = await (await client.get((await upd.json())["location"], headers=bearer(token))).json()
    assert u["business"]["doc_type"] == 2 and u["business"]["reason"] == "Sửa lỗi"
    assert u["code"] == "12/UBND-VP" and u["to"] == [B_ORGAN]
    rep = await client.post(f"/api/v1/documents/{sent['id']}/replace", headers=bearer(token),
                            data=form({"subject": "Kế hoạch thay thế", "code": "13/UBND-VP"}))
    assert rep.status == 202, await rep.text()
    r = await (await client.get((await rep.json())["location"], headers=bearer(token))).json()
    assert r["business"]["doc_type"] == 3
    assert r["business"]["document_id"] == sent["edxml_document_id"]
    bad = await client.post(f"/api/v1/documents/{sent['id']}/replace", headers=bearer(token),
                            data=form({"subject": ""}))
    assert bad.status == 422


async def test_take_back_queues_13_per_recipient(client: Client, token: str, a: Node) -> None:
    sent = await (await client.post("/api/v1/documents", data=form(metadata()),
                                    headers=bearer(token))).json()
    resp = await client.post(f"/api/v1/documents/{sent['id']}/take-back",
                             headers=bearer(token), json={"reason": "Gửi nhầm nơi"})
    assert resp.status == 202
    body = await resp.json()
    assert body["status_code"] == "13" and len(body["status_document_ids"]) == 1
    detail = await (await client.get(f"/api/v1/documents/{sent['id']}",
                                     headers=bearer(token))).json()
    assert detail["timeline"][-1]["evidence"]["status_code"] == "13"


async def test_certificates_expiring(client: Client, token: str) -> None:
    soon = await (await client.get("/api/v1/certificates/expiring", params={"days": "400"},
                                   headers=bearer(token))).json()
    assert len(soon["items"]) == 1 and soon["items"][0]["days_left"] > 300
    none = await (await client.get("/api/v1/certificates/expiring",
                                   headers=bearer(token))).json()
    assert none["items"] == []
