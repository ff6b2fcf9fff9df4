"""Payload bytes in the database (``[store] blobs = "database"``, DESIGN §5, issue 8).

When several machines share one PostgreSQL store, a filesystem blob store would need a shared
folder; this one keeps the bytes in the ``blobs`` table of the store itself, so the database
is the only shared service. It follows the rules of :mod:`docnode.store.blobs`:

1. Write before commit: :meth:`DatabaseBlobStore.put` commits the bytes in ITS OWN short
   transaction, before the use case's transaction names the digest (a crash in between
   leaves an unreferenced row, harmless).
2. Idempotent: the primary key is the SHA-256, an insert that finds the row does nothing
   (``ON CONFLICT DO NOTHING``), so two machines storing the same bytes at once both succeed.
   A stored row whose bytes no longer match its name (damage) is replaced.
3. Reads verify: the bytes must hash to their name, else :class:`BlobIntegrityError`.
4. The row's ``created_at`` is the database server's clock (``now()``): the store never reads
   the process clock (repository rule 5).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from docnode.errors import BlobIntegrityError, NotFound, StoreUnavailable
from docnode.store.blobs import sha256_hex
from docnode.store.engine import reader_engine
from docnode.store.tables import StoredBlob

_T: Table = StoredBlob.metadata.tables["blobs"]
_C = _T.c

WriteGate = Callable[[], AbstractAsyncContextManager[None]]


class DatabaseBlobStore:
    """A :class:`~docnode.store.blobs.BlobStore` over the store's ``blobs`` table."""

    def __init__(self, engine: AsyncEngine, *, write_gate: WriteGate | None = None) -> None:
        self.engine = engine
        """The store's engine (not owned: the store disposes it)."""
        self._gate = write_gate
        self._reader = reader_engine(engine)

    async def put(self, data: bytes) -> str:
        sha = sha256_hex(data)
        try:
            async with self._turn(), self.engine.begin() as conn:
                stored = (await conn.execute(
                    select(_C.data).where(_C.sha256 == sha))).scalar()
                if stored is not None and sha256_hex(bytes(stored)) == sha:
                    return sha  # already stored (rule 2)
                if stored is not None:  # damaged copy: replace it
                    await conn.execute(delete(_T).where(_C.sha256 == sha))
                await conn.execute(self._insert(sha, data))
        except sa_exc.DBAPIError as exc:
            raise StoreUnavailable(f"cannot store blob {sha}: {type(exc.orig).__name__}") \
                from exc
        return sha

    async def get(self, sha256: str) -> bytes:
        try:
            async with self._reader.connect() as conn:
                stored = (await conn.execute(
                    select(_C.data).where(_C.sha256 == sha256))).scalar()
        except sa_exc.DBAPIError as exc:
            raise StoreUnavailable(f"cannot read blob {sha256}: {type(exc.orig).__name__}") \
                from exc
        if stored is None:
            raise NotFound(f"blob {sha256} is not stored", detail={"blob": sha256})
        data = bytes(stored)
        if sha256_hex(data) != sha256:
            raise BlobIntegrityError(f"blob {sha256} does not match its digest",
                                     detail={"blob": sha256})
        return data

    async def exists(self, sha256: str) -> bool:
        async with self._reader.connect() as conn:
            found = (await conn.execute(
                select(_C.sha256).where(_C.sha256 == sha256))).scalar()
        return found is not None

    def _insert(self, sha: str, data: bytes) -> Any:
        values = {"sha256": sha, "size": len(data), "data": data, "created_at": func.now()}
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(_T).values(**values).on_conflict_do_nothing()
        return sqlite.insert(_T).values(**values).on_conflict_do_nothing()

    def _turn(self) -> AbstractAsyncContextManager[None]:
        # On SQLite, queue behind this process's other writers (repository rule 7).
        return self._gate() if self._gate is not None else nullcontext()
