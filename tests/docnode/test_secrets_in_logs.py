"""Secrets never reach a log line (DESIGN §8): fields that look like secrets are redacted by
the one log formatter, whatever a caller passes, in both formats."""

from __future__ import annotations

import io
import json
import logging

import pytest

from docnode.logging import bind, configure_logging, get_logger

PASSPHRASE = "correct horse battery staple"
TOKEN = "dn_3q2+7w8e9r0tYuIoP"


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_secret_fields_are_redacted(fmt: str) -> None:
    stream = io.StringIO()
    configure_logging(fmt=fmt, level="DEBUG", stream=stream)  # type: ignore[arg-type]
    try:
        log = get_logger("test")
        with bind(api_token=TOKEN):
            log.info("identity_loaded", passphrase=PASSPHRASE, key_passphrase=PASSPHRASE)
            log.warning("api_call", authorization=f"Bearer {TOKEN}", token=TOKEN,
                        hmac_secret=PASSPHRASE)
            log.security("suspicious", bearer_token=TOKEN, cookie=f"session={TOKEN}")
    finally:
        logging.getLogger("docnode").handlers.clear()
    text = stream.getvalue()
    assert text.count("\n") == 3
    assert PASSPHRASE not in text and TOKEN not in text
    assert text.count("[redacted]") >= 8
    if fmt == "json":
        first = json.loads(text.splitlines()[0])
        assert first["event"] == "identity_loaded" and first["passphrase"] == "[redacted]"
