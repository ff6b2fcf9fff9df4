"""Bearer tokens: 401/403 as problem+json, hashed at rest, scoped, revocable; the CLI prints a
token once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from docnode.api.auth import create_token, hash_token, list_tokens, revoke_token
from docnode.api.tables import ApiToken
from docnode.app import Node
from docnode.errors import ValidationFailed
from docnode.localnet import LocalNet
from tests.api.kit import A_ORGAN, B_ORGAN, bearer, form, metadata, receive_from

Client = TestClient[Any, Any]


@pytest.mark.parametrize("header", [None, "Basic abc", "Bearer", "Bearer dn_unknown",
                                    "Bearer two words"])
async def test_missing_or_bad_token_is_401_problem(client: Client, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    resp = await client.get("/api/v1/inbox", headers=headers)
    assert resp.status == 401
    assert resp.content_type == "application/problem+json"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await resp.json())["code"] == "unauthorized"


async def test_revoked_token_is_401(client: Client, a: Node, token: str) -> None:
    [info] = await list_tokens(a.store)
    await revoke_token(a.store, info.id, now=datetime.now(UTC))
    resp = await client.get("/api/v1/me", headers=bearer(token))
    assert resp.status == 401


async def test_token_is_stored_hashed_only(a: Node, token: str) -> None:
    async with a.store.reader() as tx:
        rows = (await tx.session.execute(select(ApiToken))).scalars().all()
    assert [r.token_sha256 for r in rows] == [hash_token(token)]
    assert all(token not in json.dumps(r.model_dump(), default=str) for r in rows)


async def test_me_and_public_openapi(client: Client, token: str) -> None:
    me = await (await client.get("/api/v1/me", headers=bearer(token))).json()
    assert me["organ_ids"] == [A_ORGAN] and me["name"] == "clerk"
    spec = await client.get("/api/openapi.json")
    assert spec.status == 200 and (await spec.json())["openapi"] == "3.1.0"
    docs = await client.get("/api/docs")
    assert docs.status == 200 and "openapi.json" in await docs.text()


async def test_scope_refuses_other_organisations(client: Client, a: Node, b: Node) -> None:
    # A token for an organisation A does not act for.
    with pytest.raises(ValidationFailed) as err:
        await create_token(a.store, name="x", organ_ids=[B_ORGAN],
                           served=a.settings.node.organ_ids, now=datetime.now(UTC))
    problems: Any = err.value.detail["errors"]
    assert problems[0]["field"] == "organ_id[0]"
    _info, token = await create_token(a.store, name="clerk", organ_ids=[A_ORGAN],
                                      served=a.settings.node.organ_ids, now=datetime.now(UTC))
    # Submitting "from" another organisation is forbidden.
    resp = await client.post("/api/v1/documents", headers=bearer(token),
                             data=form(metadata(**{"from": B_ORGAN})))
    assert resp.status == 403
    assert (await resp.json())["code"] == "forbidden"


async def test_document_of_another_organisation_is_403(client: Client, a: Node,
                                                       b: Node) -> None:
    doc_id = await receive_from(b, a)
    # A token of a second organisation of the same node (scope check is on the document).
    async with a.store.transaction() as tx:
        row = await tx.get_document(doc_id)
        assert row is not None
        row.organ_id = "000.00.00.Z01"  # as if it belonged to another of our organisations
    _info, token = await create_token(a.store, name="c", organ_ids=[A_ORGAN],
                                      served=a.settings.node.organ_ids, now=datetime.now(UTC))
    resp = await client.get(f"/api/v1/documents/{doc_id}", headers=bearer(token))
    assert resp.status == 403
    assert (await resp.json())["code"] == "forbidden"
    inbox = await (await client.get("/api/v1/inbox", headers=bearer(token))).json()
    assert inbox["items"] == []


def test_cli_prints_the_token_once_and_lists_without_it(net: LocalNet) -> None:
    node = net["A"]
    created = node.cli_json("tokens", "create", "-c", str(node.config), "--name", "Văn thư",
                            "--organ-id", A_ORGAN)
    assert created["token"].startswith("dn_") and created["organ_ids"] == [A_ORGAN]
    listed = node.cli("tokens", "list", "-c", str(node.config), "--json").stdout
    assert created["token"] not in listed
    assert json.loads(listed)[0]["name"] == "Văn thư"
    bad = node.cli("tokens", "create", "-c", str(node.config), "--name", "x", "--organ-id",
                   B_ORGAN, check=False)
    assert bad.returncode == 1 and "validation_failed" in bad.stderr
    revoked = node.cli_json("tokens", "revoke", "-c", str(node.config), created["id"])
    assert revoked["revoked_at"] is not None
