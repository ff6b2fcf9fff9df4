"""Broker loss seen from outside (issue 8): a node whose broker is unreachable starts, says so
on ``/readyz`` (503, ``broker`` check failing) without printing the broker's credentials,
keeps accepting documents (they wait in the store), and once it reaches a broker everything
committed meanwhile is published and delivered."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from docnode.app import open_node
from docnode.config import load_config
from docnode.localnet import LocalNode
from tests.scale.kit import AMQP_ENV, scale_net, submit_many, wait_delivered
from tests.servers import AmqpTarget, free_port_url

pytestmark = pytest.mark.slow


def readyz(node: LocalNode, *, timeout: float = 60.0) -> tuple[int, dict[str, Any]]:
    """The first answer of ``/readyz`` (any status) once the node listens."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(node.api_url + "/readyz", timeout=5) as resp:  # noqa: S310 - loopback URL we built
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


async def test_an_unreachable_broker_is_not_ready_but_loses_nothing(
        tmp_path: Path, pg_url: str, amqp: AmqpTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    net = scale_net(tmp_path, store_a=pg_url, store_b=f"sqlite:///{tmp_path / 'b.sqlite3'}",
                    amqp=amqp)
    a, b = net["A"], net["B"]
    # Nothing listens on this port; the URL carries a password that must never be printed.
    monkeypatch.setenv(AMQP_ENV, free_port_url("amqp://docnode:Sup3rSecret@127.0.0.1"))
    b.start()
    a.start(wait=False)
    try:
        status, body = readyz(a)
        assert status == 503
        checks = {c["name"]: c for c in body["checks"]}
        assert checks["broker"]["ok"] is False
        assert checks["store"]["ok"] is True
        async with open_node(load_config(a.config)) as parts:
            ids = await submit_many(parts, b.organ_id, 20)  # accepted while not ready
        a.stop()
        assert "Sup3rSecret" not in (a.directory / "node.log").read_text()
        assert "Sup3rSecret" not in body.__repr__()
        monkeypatch.setenv(AMQP_ENV, amqp.url)  # the broker is back
        a.start()
        async with open_node(load_config(a.config)) as parts:
            states = await wait_delivered(parts, len(ids), timeout=120)
        assert states == {"delivered": 20}
    finally:
        a.stop()
        b.stop()
