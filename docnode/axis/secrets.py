"""Client-system secrets of the axis, sealed at rest.

Why sealed, not hashed: the VXP HMAC (spec §2.3) is keyed with the secret itself, so the axis
must be able to recompute it; a one-way hash would make every request unverifiable. The
secret is therefore stored AES-256-GCM-encrypted under an axis *master key*, with the system
id as associated data (a sealed secret copied onto another system's row does not open).

Rules:
1. The master key comes from ``DOCNODE_AXIS_MASTER_KEY`` (base64 of 32 bytes) when set, so
   an operator can keep it off the disk entirely; otherwise from ``<data>/master.key``, created
   on first use with mode 0600 (owner only). A database dump or backup alone reveals no secret.
2. Secrets are bytes in memory only; never logged, never in a repr or an error message.
3. Sealed form: ``v1:`` + base64(nonce(12) || ciphertext+tag).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from docnode.errors import ConfigInvalid

MASTER_KEY_ENV = "DOCNODE_AXIS_MASTER_KEY"
MASTER_KEY_FILE = "master.key"
_VERSION = "v1:"


class SecretSealer:
    """Seals and opens client secrets with the master key (rule 3)."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ConfigInvalid(["axis master key: must be 32 bytes"])
        self._aead = AESGCM(master_key)

    def __repr__(self) -> str:
        return "SecretSealer()"

    def seal(self, system_id: str, secret: bytes) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, secret, system_id.encode("utf-8"))
        return _VERSION + base64.b64encode(nonce + sealed).decode("ascii")

    def open(self, system_id: str, sealed: str) -> bytes:
        if not sealed.startswith(_VERSION):
            raise ConfigInvalid([f"axis system {system_id}: unknown sealed-secret format"])
        try:
            raw = base64.b64decode(sealed[len(_VERSION):], validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], system_id.encode("utf-8"))
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise ConfigInvalid([f"axis system {system_id}: the secret does not open with "
                                 "this master key"]) from exc


def load_master_key(data_dir: Path, environ: Mapping[str, str], *, create: bool) -> bytes:
    """The master key (rule 1); ``create`` makes ``<data>/master.key`` when neither exists."""
    text = environ.get(MASTER_KEY_ENV)
    if text:
        try:
            key = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigInvalid([f"{MASTER_KEY_ENV}: not base64"]) from exc
        if len(key) != 32:
            raise ConfigInvalid([f"{MASTER_KEY_ENV}: must decode to 32 bytes"])
        return key
    path = data_dir / MASTER_KEY_FILE
    if path.exists():
        key = path.read_bytes()
        if len(key) != 32:
            raise ConfigInvalid([f"{path}: must hold 32 bytes"])
        return key
    if not create:
        raise ConfigInvalid([f"no axis master key: set {MASTER_KEY_ENV} or create {path} "
                             "(docnode axis register-system does)"])
    data_dir.mkdir(parents=True, exist_ok=True)
    key = os.urandom(32)
    # O_EXCL: two concurrent registrations never overwrite each other's key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
        fh.flush()
        os.fsync(fh.fileno())
    return key
