"""Schema migrations at start (alembic, from the first version on).

``await migrate(url)`` brings a store to the newest schema. Alembic is synchronous; it runs
on a sync connection lent by the async engine (``AsyncConnection.run_sync``), so the event loop
is never blocked by a sync driver and the migration sees the same pragmas (WAL, foreign keys)
as the service. The scripts ship inside the package (``pyproject`` package-data), found next
to this module, so a non-editable install migrates too.

Convention: the migrations own every table declared in ``docnode/store/tables.py`` and in any
``docnode/<package>/tables.py`` (e.g. the axis role's); :func:`all_metadata` imports them all
so that autogenerate and the schema test see the complete schema.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from docnode.store.engine import create_engine, reader_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def table_modules() -> list[str]:
    """Modules declaring tables (see the convention above), store first."""
    names = ["docnode.store.tables"]
    # Look for the files rather than importing every package just to ask; the package folder
    # is found from this file (``docnode.__path__`` can be shadowed, e.g. by tests/docnode).
    package_dir = Path(__file__).resolve().parent.parent
    found = {p.parent.name for p in package_dir.glob("*/tables.py")}
    names += [f"docnode.{name}.tables" for name in sorted(found - {"store"})]
    return names


def all_metadata() -> MetaData:
    """The metadata of every table the migrations create."""
    from docnode.store.tables import TABLES

    for name in table_modules():
        importlib.import_module(name)
    return TABLES[0].metadata


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic ``Config`` for the packaged scripts (no ini file needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships 0001
        raise RuntimeError("no migration scripts found in " + str(MIGRATIONS_DIR))
    return head


async def migrate_engine(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` in one transaction."""

    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as conn:
        await conn.run_sync(upgrade)


async def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the store at ``url`` (sync or async SQLAlchemy URL) to ``revision``."""
    engine = create_engine(url)
    try:
        await migrate_engine(engine, revision)
    finally:
        await engine.dispose()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (``None`` if never migrated)."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with reader_engine(engine).connect() as conn:
        return await conn.run_sync(read)
