"""The tester's two commands, exactly as issue 6 writes them: ``docnode axis register-system
--data DIR --system-id ID --secret-env VAR --organ-id ID…`` then ``docnode axis serve --data
DIR --listen HOST:PORT [--signature-policy …]`` — no config, and no ``--trust-anchor``
either: trust then comes from ``DIR/trust/`` or is empty (every signed packet refused, and
the operator told so); an agency's client works against it at once."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from docnode import errors
from docnode.localnet import CLI, terminate
from docnode.transport.vxp_client import VxpClient
from tests.conftest import Pki
from tests.docnode.axis_kit import A_ORGAN, B_ORGAN, signed_edoc, unsigned_edoc

pytestmark = pytest.mark.slow

ENV = {**os.environ, "SYS_A_SECRET": "secret-a-1234", "SYS_B_SECRET": "secret-b-1234"}


def _register(data: Path) -> None:
    for system, var, organ in (("sys.a", "SYS_A_SECRET", A_ORGAN),
                               ("sys.b", "SYS_B_SECRET", B_ORGAN)):
        subprocess.run([*CLI, "axis", "register-system", "--data", str(data), "--system-id",
                        system, "--secret-env", var, "--organ-id", organ],
                       check=True, env=ENV, capture_output=True, timeout=60)


@contextmanager
def _serving(data: Path, *extra: str) -> Iterator[tuple[str, str]]:
    """``docnode axis serve`` on a free port: (base URL, what it printed on stderr)."""
    log = data / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "axis", "serve", "--data", str(data), "--listen",
                                 "127.0.0.1:0", *extra], env=ENV, stdout=subprocess.PIPE,
                                stderr=out)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            assert line.startswith("listening "), (line, log.read_text())
            yield f"http://{line.split()[1]}", log.read_text()
        finally:
            assert terminate(proc, timeout=30) == 0


async def test_two_commands_no_config_no_anchor_then_data_trust(pki: Pki,
                                                                tmp_path: Path) -> None:
    data = tmp_path / "axis"
    _register(data)
    async with aiohttp.ClientSession() as session:
        def client(system: str, secret: str) -> VxpClient:
            return VxpClient(session=session, endpoint=url, system_id=system,
                             secret=secret.encode(), timeout_s=10)

        with _serving(data, "--signature-policy", "legacy-allowed") as (url, said):
            assert "no trust anchor" in said and "untrusted_root" in said
            a, b = client("sys.a", ENV["SYS_A_SECRET"]), client("sys.b", ENV["SYS_B_SECRET"])
            assert await a.send_edoc(unsigned_edoc(pki), from_=A_ORGAN)
            with pytest.raises(errors.AxisRejected) as caught:
                await a.send_edoc(signed_edoc(pki), from_=A_ORGAN)
            assert caught.value.detail["axis_code"] == "certificate_untrusted"
            assert await b.count_receive_edoc() == 1

        # The dev CA's root and CRLs dropped into DIR/trust/: signed packets are accepted
        # under the default policy (required), unsigned ones refused.
        trust = data / "trust"
        trust.mkdir()
        for name in ("root-ca.pem", "crl.pem", "root-crl.pem"):
            shutil.copy(pki.ca.directory / name, trust / name)
        with _serving(data) as (url, said):
            assert "no trust anchor" not in said
            a = client("sys.a", ENV["SYS_A_SECRET"])
            assert await a.send_edoc(signed_edoc(pki), from_=A_ORGAN)
            with pytest.raises(errors.AxisRejected) as caught:
                await a.send_edoc(unsigned_edoc(pki), from_=A_ORGAN)
            assert caught.value.detail["axis_code"] == "signature_missing"
