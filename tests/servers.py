"""Fixtures for the real PostgreSQL and RabbitMQ servers (issue 8; STYLE §9).

Rules:
1. ``DOCNODE_TEST_PG_URL`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``)
   is only used to CREATE and DROP throw-away databases: every test that asks for
   ``pg_url`` (migrated) or ``pg_empty_url`` gets a database of its own, named
   ``docnode_test_<random>``, dropped after it (the session's template too).
2. ``DOCNODE_TEST_AMQP_URL`` (default ``amqp://guest:guest@127.0.0.1:5672/``): every test that
   asks for ``amqp`` gets a unique name prefix (exchanges and queues), and everything under
   that prefix is deleted after it. (``rabbitmqctl add_vhost`` costs seconds per call; a
   prefix isolates just as well.)
3. A test using these fixtures is marked ``postgres`` / ``rabbitmq`` automatically. When the
   server is unreachable it SKIPS with the reason, unless ``DOCNODE_REQUIRE_PG=1`` /
   ``DOCNODE_REQUIRE_AMQP=1`` says it must be there (``.ci/run``): then it FAILS.
4. URLs with a password are never printed: reasons name host and port only.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import make_url

PG_ENV, PG_REQUIRE = "DOCNODE_TEST_PG_URL", "DOCNODE_REQUIRE_PG"
AMQP_ENV, AMQP_REQUIRE = "DOCNODE_TEST_AMQP_URL", "DOCNODE_REQUIRE_AMQP"
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"

_PG_FIXTURES = {"pg_url", "pg_empty_url", "pg_server", "store_url", "empty_url", "backend"}
_AMQP_FIXTURES = {"amqp", "amqp_server"}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _unavailable(what: str, require_env: str, where: str, url_env: str) -> None:
    reason = f"{what} is not reachable at {where} (set {url_env} to point at one)"
    if os.environ.get(require_env):
        pytest.fail(f"{reason}; {require_env} is set, so it is required here")
    pytest.skip(reason)


@dataclass
class PgServer:
    """The admin URL (rule 1) and how to make throw-away databases on it. Databases are
    copies of one template migrated once per session (``CREATE DATABASE … TEMPLATE``): a
    copy takes a fraction of the time of running the migrations again; the store still runs
    ``migrate`` at open, which finds the copy at the head revision."""

    admin_url: str
    template: str | None = None

    def finish(self) -> None:
        if self.template is not None:
            asyncio.run(self.drop(self.template))

    def database_url(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(
            hide_password=False)

    async def _admin(self, sql: str) -> None:
        import asyncpg

        url = make_url(self.admin_url)
        conn = await asyncpg.connect(host=url.host, port=url.port or 5432,
                                     user=url.username, password=url.password,
                                     database=url.database or "postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def create(self, *, empty: bool = False) -> str:
        """A new database: a migrated copy of the template, or ``empty``."""
        if not empty and self.template is None:
            from docnode.store.migrate import migrate

            template = await self.create(empty=True)
            await migrate(self.database_url(template))
            self.template = template
        name = f"docnode_test_{secrets.token_hex(6)}"
        source = "" if empty else f' TEMPLATE "{self.template}"'
        await self._admin(f'CREATE DATABASE "{name}"{source}')
        return name

    async def drop(self, name: str) -> None:
        # WITH (FORCE): a node process killed by a test may leave a session behind.
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class AmqpServer:
    url: str

    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 5672


@dataclass(frozen=True)
class AmqpTarget:
    """What a test needs: the broker URL and its own name prefix (rule 2)."""

    url: str
    prefix: str


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    admin = os.environ.get(PG_ENV, DEFAULT_PG)
    url = make_url(admin)
    host, port = url.host or "127.0.0.1", url.port or 5432
    if not _reachable(host, port):
        _unavailable("PostgreSQL", PG_REQUIRE, f"{host}:{port}", PG_ENV)
    server = PgServer(admin)
    yield server
    server.finish()


@pytest.fixture
async def pg_empty_url(pg_server: PgServer) -> AsyncIterator[str]:
    """A fresh EMPTY database (for migration tests), dropped afterwards."""
    name = await pg_server.create(empty=True)
    try:
        yield pg_server.database_url(name)
    finally:
        await pg_server.drop(name)


@pytest.fixture
async def pg_url(pg_server: PgServer) -> AsyncIterator[str]:
    """A fresh database for this test, migrated to the head (dropped afterwards)."""
    name = await pg_server.create()
    try:
        yield pg_server.database_url(name)
    finally:
        await pg_server.drop(name)


@pytest.fixture(params=["sqlite", "pg"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store URL of a test parametrised over both backends: a SQLite file, or a fresh
    PostgreSQL database (``pg_url``)."""
    if request.param == "pg":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'store.sqlite3'}"


@pytest.fixture(scope="session")
def amqp_server() -> AmqpServer:
    server = AmqpServer(os.environ.get(AMQP_ENV, DEFAULT_AMQP))
    host, port = server.host_port()
    if not _reachable(host, port):
        _unavailable("RabbitMQ", AMQP_REQUIRE, f"{host}:{port}", AMQP_ENV)
    return server


@pytest.fixture
async def amqp(amqp_server: AmqpServer) -> AsyncIterator[AmqpTarget]:
    """A unique exchange/queue prefix on the broker; its names are deleted afterwards."""
    target = AmqpTarget(amqp_server.url, f"dntest.{secrets.token_hex(5)}")
    yield target
    await delete_prefix(target)


async def delete_prefix(target: AmqpTarget) -> None:
    """Delete the exchanges and queues the amqp backend declares under ``target.prefix``."""
    import aio_pika

    from docnode.queue.amqp_link import Topology

    topology = Topology(target.prefix)
    connection = await aio_pika.connect(target.url)
    try:
        channel = await connection.channel()
        # Deleting a queue that was never declared is not an error in RabbitMQ.
        for name in topology.all_queues():
            await channel.queue_delete(name)
        await channel.exchange_delete(topology.exchange)
    finally:
        await connection.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Rule 3: mark tests by the server fixtures they use."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("docnode_backend") == "pg-amqp":
            item.add_marker(pytest.mark.postgres)
            item.add_marker(pytest.mark.rabbitmq)
            continue
        names = set(getattr(item, "fixturenames", ()))
        if names & _PG_FIXTURES and _uses_pg(item):
            item.add_marker(pytest.mark.postgres)
        if names & _AMQP_FIXTURES:
            item.add_marker(pytest.mark.rabbitmq)


def _uses_pg(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    for name in ("store_url", "empty_url", "backend"):
        if name in params:
            return str(params[name]).startswith("pg")
    return True


def free_port_url(base: str) -> str:
    """``base:PORT`` with a loopback port nothing listens on (a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"{base}:{port}/"
