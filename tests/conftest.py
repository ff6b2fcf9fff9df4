"""Shared test fixtures and markers.

Fixtures are small factories (sigstore's ``asset(name)``); PKIs come from ``keystore.ca``.
Tests that need an external program or server skip with a stated reason, unless CI says
the thing must be there (``DOCNODE_REQUIRE_*``), in which case they fail instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VNPT_SAMPLES = REPO.parent / "shared" / "fixtures" / "vnpt-sdk-samples"


def require_tool(name: str, env: str) -> str:
    """Path of an external program, or skip (fail when ``env`` says it is required)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get(env):
            pytest.fail(f"{name} is required here ({env} is set) but not on PATH")
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return path


@pytest.fixture(scope="session")
def xmlsec1() -> str:
    return require_tool("xmlsec1", "DOCNODE_REQUIRE_XMLSEC1")


@pytest.fixture(scope="session")
def vnpt_samples() -> Path:
    if not VNPT_SAMPLES.is_dir():
        pytest.skip(f"VNPT SDK samples not found at {VNPT_SAMPLES} (shared/ not checked out)")
    return VNPT_SAMPLES
