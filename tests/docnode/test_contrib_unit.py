"""``contrib/docnode.service`` is a valid systemd unit whose commands exist in this install
(checked by systemd's own ``systemd-analyze verify``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, require_tool

UNIT = REPO / "contrib" / "docnode.service"
INSTALLED = "/opt/docnode/.venv/bin/docnode"


def test_unit_verifies(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze", "DOCNODE_REQUIRE_SYSTEMD")
    docnode = Path(sys.executable).parent / "docnode"
    text = UNIT.read_text("utf-8")
    assert INSTALLED in text
    unit = tmp_path / "docnode.service"
    unit.write_text(text.replace(INSTALLED, str(docnode)), "utf-8")
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "ExecStart=" + INSTALLED + " run" in text
    # no secret in the unit itself: the passphrase comes from an EnvironmentFile or a file
    settings = [ln for ln in text.splitlines() if ln.startswith("Environment=")]
    assert settings and not any("PASSPHRASE" in ln for ln in settings)
