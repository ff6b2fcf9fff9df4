"""``role = "axis"`` in a node config: ``docnode axis register-system -c CONFIG`` then
``docnode run -c CONFIG`` serves VXP on ``[listen] direct`` from the node's own store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tomllib
from pathlib import Path

import aiohttp
import pytest

from docnode import errors
from docnode.cli.node import init_node
from docnode.config import write_config
from docnode.localnet import CLI
from docnode.transport.vxp_client import Agency, VxpClient

pytestmark = pytest.mark.slow


async def _agencies_once_up(url: str) -> list[Agency]:
    """getAgenciesList as system ``sys.x``, as soon as the axis role listens."""
    async with aiohttp.ClientSession() as session:
        client = VxpClient(session=session, endpoint=url, system_id="sys.x",
                           secret=b"secret-x", timeout_s=2)
        for _ in range(200):
            try:
                return await client.get_agencies_list()
            except errors.PeerError:  # not listening yet
                await asyncio.sleep(0.1)
    pytest.fail("the axis role never answered")


async def test_role_axis_serves_vxp(tmp_path: Path) -> None:
    result = init_node(tmp_path / "axis", organ_id="000.00.00.A01")
    config = tmp_path / "axis" / "docnode.toml"
    data = tomllib.loads(config.read_text("utf-8"))
    data["node"]["role"] = "axis"
    write_config(config, data)
    env = {**os.environ, "SYS_X_SECRET": "secret-x"}
    subprocess.run([*CLI, "axis", "register-system", "-c", str(config), "--system-id", "sys.x",
                    "--secret-env", "SYS_X_SECRET", "--organ-id", "000.00.00.G22"],
                   check=True, env=env, capture_output=True, timeout=60)
    proc = subprocess.Popen([*CLI, "run", "-c", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        agencies = await _agencies_once_up(f"http://{result['direct']}")
        assert [a.code for a in agencies] == ["000.00.00.G22"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0


async def test_role_axis_registry_from_the_config(tmp_path: Path) -> None:
    """``[[axis_systems]]`` is applied at start: the secret from the env authenticates the
    system, getAgenciesList serves the agencies' names, mail and parent; a restart with an
    agency removed from the config stops serving it, while one registered with the CLI stays
    (``docnode.axis.registry`` rule 1)."""
    result = init_node(tmp_path / "axis", organ_id="000.00.00.A01")
    config = tmp_path / "axis" / "docnode.toml"
    data = tomllib.loads(config.read_text("utf-8"))
    data["node"]["role"] = "axis"
    data["axis_systems"] = [{
        "system_id": "sys.x", "name": "DMS tỉnh X", "secret_env": "SYS_X_SECRET",
        "agencies": [
            {"organ_id": "000.00.00.G22", "name": "UBND tỉnh X", "mail": "vt@x.gov.vn"},
            {"organ_id": "000.00.01.G22", "name": "Sở Nội vụ tỉnh X",
             "parent": "000.00.00.G22"},
        ]}]
    write_config(config, data)
    env = {**os.environ, "SYS_X_SECRET": "secret-x", "SYS_Y_SECRET": "secret-y"}
    subprocess.run([*CLI, "axis", "register-system", "-c", str(config), "--system-id", "sys.y",
                    "--secret-env", "SYS_Y_SECRET", "--organ-id", "000.00.00.H33"],
                   check=True, env=env, capture_output=True, timeout=60)

    async def agencies() -> list[tuple[str, str, str, str]]:
        proc = subprocess.Popen([*CLI, "run", "-c", str(config)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            listed = await _agencies_once_up(f"http://{result['direct']}")
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert b"secret-x" not in err  # secrets never in logs
        return [(a.code, a.name, a.mail, a.pid) for a in listed]

    assert await agencies() == [
        ("000.00.00.G22", "UBND tỉnh X", "vt@x.gov.vn", ""),
        ("000.00.00.H33", "", "", ""),
        ("000.00.01.G22", "Sở Nội vụ tỉnh X", "", "000.00.00.G22"),
    ]
    data["axis_systems"][0]["agencies"] = data["axis_systems"][0]["agencies"][:1]
    write_config(config, data)
    assert [code for code, *_ in await agencies()] == ["000.00.00.G22", "000.00.00.H33"]
    listing = subprocess.run([*CLI, "axis", "agencies", "-c", str(config), "--json"],
                             check=True, env=env, capture_output=True, timeout=60)
    import json

    rows = {r["organ_id"]: (r["system_id"], r["source"]) for r in json.loads(listing.stdout)}
    assert rows == {"000.00.00.G22": ("sys.x", "config"), "000.00.00.H33": ("sys.y", "cli")}
