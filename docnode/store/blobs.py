"""Content-addressed payload storage (DESIGN §5): a blob's name is the SHA-256 of its bytes.

Rules:
1. Write before commit: a caller stores the bytes, THEN commits the row naming the digest, so
   a committed row never points at a missing blob (a crash in between leaves an unreferenced
   blob, harmless and collectable).
2. Writes are atomic and durable: temp file in the target folder, fsync, rename, fsync of the
   folder. A reader sees the whole blob or none.
3. Reads verify: the bytes must hash to their name, else :class:`BlobIntegrityError`.
4. File I/O runs in a worker thread (``asyncio.to_thread``), never on the event loop.

:class:`BlobStore` is the slot for a database-backed store when several machines share one
store (issue 8); :class:`FilesystemBlobStore` is the default.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from docnode.errors import BlobIntegrityError, InputUnreadable, NotFound

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobStore(Protocol):
    """Where payload bytes live, addressed by their SHA-256 (lowercase hex)."""

    async def put(self, data: bytes) -> str:
        """Store ``data`` (idempotent) and return its SHA-256."""
        ...

    async def get(self, sha256: str) -> bytes:
        """The bytes named ``sha256``, verified; ``NotFound`` if absent,
        ``BlobIntegrityError`` if they do not match."""
        ...

    async def exists(self, sha256: str) -> bool:
        """Whether a blob is stored under ``sha256``."""
        ...


def sha256_hex(data: bytes) -> str:
    """The name of ``data`` in a blob store."""
    return hashlib.sha256(data).hexdigest()


class FilesystemBlobStore:
    """Blobs as files ``ROOT/ab/cd/<sha256>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        """Where the blob ``sha256`` lives (``ValueError`` for a malformed digest)."""
        if not _SHA256.match(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def put(self, data: bytes) -> str:
        sha = sha256_hex(data)
        try:
            await asyncio.to_thread(self._write, sha, data)
        except OSError as exc:
            # A full disk (ENOSPC), a file size limit (EFBIG), a read-only or missing folder:
            # a clear, retryable io_error instead of an anonymous internal error. _write
            # removes its temporary file, so nothing half-written stays behind.
            raise InputUnreadable(f"cannot write blob {sha[:12]}…: {exc.strerror or exc}",
                                  detail={"blob": sha, "errno": exc.errno}) from exc
        return sha

    async def get(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self._read, sha256)

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path_for(sha256).is_file)

    def _write(self, sha: str, data: bytes) -> None:
        target = self.path_for(sha)
        if target.is_file() and target.stat().st_size == len(data) and \
                sha256_hex(target.read_bytes()) == sha:
            return  # already stored; a damaged copy is replaced below
        folder = target.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(folder)

    def _read(self, sha: str) -> bytes:
        path = self.path_for(sha)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {sha} is not stored", detail={"blob": sha}) from None
        if sha256_hex(data) != sha:
            raise BlobIntegrityError(f"blob {sha} does not match its digest",
                                     detail={"blob": sha})
        return data


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder entry is on disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
