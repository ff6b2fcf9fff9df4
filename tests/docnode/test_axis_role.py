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
from docnode.transport.vxp_client import VxpClient

pytestmark = pytest.mark.slow


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
        async with aiohttp.ClientSession() as session:
            client = VxpClient(session=session, endpoint=f"http://{result['direct']}",
                               system_id="sys.x", secret=b"secret-x", timeout_s=2)
            for _ in range(200):
                try:
                    agencies = await client.get_agencies_list()
                    break
                except errors.PeerError:  # not listening yet
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the axis role never answered")
        assert [a.code for a in agencies] == ["000.00.00.G22"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0
