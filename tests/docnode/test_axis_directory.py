"""The agency's axis directory (``docnode.axis_poller`` rule 5, ``docnode.directory`` rule 4):
getAgenciesList from a real axis is kept in the node's store, replaced by each sync (an empty
answer keeps it), survives a restart, and shows in ``docnode peers`` and ``GET
/api/v1/directory`` with each OrganId's route."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import col, delete

from docnode.api import api_app
from docnode.app import open_node
from docnode.axis.registry import describe_agency
from docnode.axis.tables import AxisOrgan
from docnode.axis_poller import AxisDirectorySync
from docnode.cli.node import add_peer, init_node
from docnode.config import load_config, write_config
from docnode.localnet import CLI
from tests.api.kit import api_context, bearer, token_for
from tests.conftest import Pki
from tests.docnode.axis_kit import A_ORGAN, B_ORGAN, SECRETS, running_axis

DIRECT_PEER = "000.00.00.H99"


async def test_directory_synced_kept_and_shown(pki: Pki, tmp_path: Path) -> None:
    init_node(tmp_path / "b", organ_id=B_ORGAN, ca_dir=pki.ca.directory)
    config = tmp_path / "b" / "docnode.toml"
    (tmp_path / "b" / "axis-secret").write_bytes(SECRETS["sys.b"])
    async with running_axis(pki, tmp_path / "net") as axis:
        store = axis.parts.store
        await describe_agency(store, A_ORGAN, name="UBND tỉnh A", mail="vt@a.gov.vn")
        await describe_agency(store, B_ORGAN, name="Sở B", parent=A_ORGAN)
        data = tomllib.loads(config.read_text("utf-8"))
        data["axis"] = {"url": axis.url, "system_id": "sys.b", "secret_file": "axis-secret"}
        write_config(config, data)
        # A direct peer for one OrganId, and for A (listed by the axis too: direct wins).
        add_peer(config, organ_ids=[DIRECT_PEER, A_ORGAN], url="http://127.0.0.1:9",
                 name="Peer H99")
        async with open_node(load_config(config)) as node:
            sync = AxisDirectorySync(axis.client("sys.b"), node.store, node.clock)
            assert await sync.sync() == 2
            async with node.store.reader() as tx:
                rows = {a.organ_id: a for a in await tx.list_agencies()}
            assert set(rows) == {A_ORGAN, B_ORGAN}
            assert (rows[A_ORGAN].name, rows[A_ORGAN].mail) == ("UBND tỉnh A", "vt@a.gov.vn")
            assert rows[B_ORGAN].parent == A_ORGAN

            token = await token_for(node)
            async with TestClient(TestServer(api_app(api_context(node)))) as client:
                resp = await client.get("/api/v1/directory", headers=bearer(token))
                assert resp.status == 200
                items = {i["organ_id"]: i for i in (await resp.json())["items"]}
                assert set(items) == {A_ORGAN, B_ORGAN, DIRECT_PEER}
                assert items[A_ORGAN]["route"] == "direct:http://127.0.0.1:9"
                assert items[A_ORGAN]["sources"] == ["config", "axis"]
                assert items[A_ORGAN]["name"] == "Peer H99"  # the config's name comes first
                assert (items[B_ORGAN]["route"], items[B_ORGAN]["sources"]) == ("axis",
                                                                              ["axis"])
                assert items[B_ORGAN]["synced_at"]
                assert items[DIRECT_PEER]["synced_at"] is None
                resp = await client.get("/api/v1/directory?q=s%E1%BB%9F%20b",
                                        headers=bearer(token))  # "sở b", any case
                assert [i["organ_id"] for i in (await resp.json())["items"]] == [B_ORGAN]
                resp = await client.get("/api/v1/directory?limit=0", headers=bearer(token))
                assert resp.status == 422
                assert (await client.get("/api/v1/directory")).status == 401

            # The axis forgets A: the next sync removes it; an empty answer keeps the rest.
            async with store.transaction() as tx:
                await tx.session.execute(delete(AxisOrgan).where(
                    col(AxisOrgan.organ_id) == A_ORGAN))
            assert await sync.sync() == 1
            async with store.transaction() as tx:
                await tx.session.execute(delete(AxisOrgan))
            assert await sync.sync() == 0
            async with node.store.reader() as tx:
                assert [a.organ_id for a in await tx.list_agencies()] == [B_ORGAN]

        # Kept in the store: the CLI sees it with the node stopped.
        out = subprocess.run([*CLI, "peers", "-c", str(config), "--json"], check=True,
                             capture_output=True, timeout=60)
        listed = {e["organ_id"]: e for e in json.loads(out.stdout)}
        assert listed[B_ORGAN]["route"] == "axis"
        assert listed[B_ORGAN]["name"] == "Sở B"
        assert listed[A_ORGAN]["sources"] == ["config"]
        table = subprocess.run([*CLI, "peers", "list", "-c", str(config)], check=True,
                               capture_output=True, timeout=60, text=True).stdout
        assert "Sở B" in table and "axis" in table and "Peer H99" in table
