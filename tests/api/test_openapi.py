"""The OpenAPI document names exactly the routes the API serves, and schemathesis finds no
server error (5xx) and no answer outside the document (status, content type, body schema)
against a real running node (bounded examples, so it stays well under a minute)."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from docnode.api.app import api_subapp
from docnode.api.context import ApiSlot
from docnode.api.openapi import document
from docnode.localnet import LocalNet, LocalNode
from tests.api.kit import A_ORGAN, B_ORGAN

EXAMPLES = int(os.environ.get("DOCNODE_SCHEMATHESIS_EXAMPLES", "8"))
"""Examples per operation: 8 (derandomised) keeps CI under a minute; raise it to explore."""
UNDOCUMENTED = {("GET", "/api/openapi.json"), ("GET", "/api/docs")}


def test_routes_and_document_name_the_same_operations() -> None:
    served = set()
    for route in api_subapp(ApiSlot()).router.routes():
        if route.method in ("HEAD", "OPTIONS"):
            continue
        served.add((route.method, "/api" + route.resource.canonical))  # type: ignore[union-attr]
    documented = {(method.upper(), path) for path, item in document()["paths"].items()
                  for method in item}
    assert served - UNDOCUMENTED == documented


def test_operation_ids_are_unique() -> None:
    ids = [op["operationId"] for item in document()["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalNode, str]]:
    net = LocalNet.create(tmp_path_factory.mktemp("st") / "net", [("A", A_ORGAN),
                                                                  ("B", B_ORGAN)])
    node = net["A"]
    token = node.cli_json("tokens", "create", "-c", str(node.config), "--name", "st",
                          "--organ-id", A_ORGAN)["token"]
    with net.running():
        yield node, token


@pytest.fixture(scope="module")
def api(running: tuple[LocalNode, str]) -> dict[str, Any]:
    node, token = running
    return {"base_url": node.api_url, "headers": {"Authorization": f"Bearer {token}"}}


def test_served_document_is_the_one_under_test(api: dict[str, Any]) -> None:
    with urllib.request.urlopen(api["base_url"] + "/api/openapi.json") as resp:  # noqa: S310 - loopback
        assert json.loads(resp.read()) == json.loads(json.dumps(document()))


schema = schemathesis.openapi.from_dict(document())


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES <= 8,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_no_schema_violations(case: Any, api: dict[str, Any]) -> None:
    case.call_and_validate(
        base_url=api["base_url"], headers=api["headers"], timeout=30,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                response_schema_conformance])


