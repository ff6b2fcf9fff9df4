"""Fixtures: a two-node network set up on disk (not started), its parts opened here, and an
aiohttp test client over node A's API."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from docnode.api import api_app
from docnode.app import Node, open_node
from docnode.config import load_config
from docnode.localnet import LocalNet, LocalNode
from tests.api.kit import A_ORGAN, B_ORGAN, api_context, token_for


@pytest.fixture(scope="session")
def net_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two nodes initialised once (keys, dev CA, peers); each test gets a fresh copy."""
    base = tmp_path_factory.mktemp("template") / "net"
    LocalNet.create(base, [("A", A_ORGAN), ("B", B_ORGAN)])
    return base


@pytest.fixture
def net(net_template: Path, tmp_path: Path) -> LocalNet:
    base = tmp_path / "net"
    shutil.copytree(net_template, base)
    return LocalNet(base, [LocalNode(name, organ, base / name, "", "")
                           for name, organ in (("A", A_ORGAN), ("B", B_ORGAN))])


@pytest.fixture
async def a(net: LocalNet) -> AsyncIterator[Node]:
    async with open_node(load_config(net["A"].config)) as parts:
        yield parts


@pytest.fixture
async def b(net: LocalNet) -> AsyncIterator[Node]:
    async with open_node(load_config(net["B"].config)) as parts:
        yield parts


@pytest.fixture
async def client(a: Node) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(api_app(api_context(a)))) as c:
        yield c


@pytest.fixture
async def token(a: Node) -> str:
    return await token_for(a)
