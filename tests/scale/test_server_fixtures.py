"""The server fixtures' contract (tests/servers.py rule 3): without a reachable server a test
skips and says why; with ``DOCNODE_REQUIRE_PG`` / ``DOCNODE_REQUIRE_AMQP`` it fails instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port_url

REPO = Path(__file__).resolve().parents[2]

PROBE = '''
def test_pg(pg_url):
    pass

def test_amqp(amqp):
    pass
'''


def _run(tmp_path: Path, **env: str) -> dict[str, str]:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    report = tmp_path / "report.json"
    plugin = tmp_path / "collect_outcomes.py"
    plugin.write_text(
        "import json\nout = {}\n"
        "def pytest_runtest_logreport(report):\n"
        "    if report.when == 'call' or report.outcome != 'passed':\n"
        "        out[report.nodeid.split('::')[-1]] = report.outcome\n"
        "def pytest_sessionfinish(session):\n"
        f"    open({str(report)!r}, 'w').write(json.dumps(out))\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DOCNODE_")}
    environ.update(env, PYTHONPATH=f"{REPO}{os.pathsep}{tmp_path}")
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.servers", "-p",
                    "collect_outcomes", "-p", "no:cacheprovider", str(probe)],
                   cwd=tmp_path, env=environ, capture_output=True, timeout=120, check=False)
    return dict(json.loads(report.read_text()))


@pytest.mark.parametrize("require", [False, True])
def test_unreachable_servers_skip_or_fail_when_required(tmp_path: Path, require: bool) -> None:
    env = {"DOCNODE_TEST_PG_URL": free_port_url("postgresql+asyncpg://postgres@127.0.0.1")
           + "postgres",
           "DOCNODE_TEST_AMQP_URL": free_port_url("amqp://guest:guest@127.0.0.1")}
    if require:
        env |= {"DOCNODE_REQUIRE_PG": "1", "DOCNODE_REQUIRE_AMQP": "1"}
    outcomes = _run(tmp_path, **env)
    expected = "failed" if require else "skipped"
    assert outcomes == {"test_pg": expected, "test_amqp": expected}
