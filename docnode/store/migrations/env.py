"""Alembic environment for the store (run by :func:`docnode.store.migrate.migrate`).

The caller hands over an open SYNC connection in ``config.attributes["connection"]`` (from
``AsyncConnection.run_sync``), so migrations run inside the caller's transaction with the
same pragmas as the service. Run from the ``alembic`` command line instead, a ``sqlalchemy.url``
option is used with a plain sync engine (for ``alembic revision --autogenerate`` by developers).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Connection

from docnode.store.migrate import all_metadata

config = context.config


def _run(connection: Connection, target_metadata: MetaData | None) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place: batch mode recreates tables (0002+).
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        # Upgrading at start needs no metadata (only autogenerate compares with it), so the
        # service does not import every table module of the product just to migrate.
        _run(connection, config.attributes.get("target_metadata"))
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("alembic: set sqlalchemy.url (a sync URL, e.g. sqlite:///x.db)")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn, all_metadata())
    engine.dispose()


_main()
