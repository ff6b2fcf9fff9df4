"""``docnode demo`` (what ``make demo`` runs) exits 0 and shows A's timeline with 03/04/06."""

from __future__ import annotations

import subprocess

import pytest

from docnode.localnet import CLI

pytestmark = pytest.mark.slow


def test_demo_runs_end_to_end() -> None:
    done = subprocess.run([*CLI, "demo"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "A's timeline" in out
    timeline = out.split("A's timeline", 1)[1]
    for kind in ("submitted", "queued", "delivered", "status_received"):
        assert kind in timeline
    for code in ("status_code=03", "status_code=04", "status_code=06"):
        assert code in timeline
