"""The daemon suite runs a second time on PostgreSQL + RabbitMQ (issue 8).

Rule: the tests named in :data:`SECOND_BACKEND` are parametrised ``sqlite`` / ``pg-amqp``;
for ``pg-amqp`` every node that ``nodes_kit.make_net`` builds gets a throw-away database
and a broker name prefix of its own, removed after the test. The selection is every test
that runs real nodes through ``make_net`` (exchange with statuses, crashes, delivery
failures, duplicates, operability); it adds well under four minutes on two cores.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest

from tests.docnode import backends
from tests.servers import AmqpServer, AmqpTarget, PgServer, delete_prefix

SECOND_BACKEND = {
    "test_two_nodes.py::test_hundred_documents_with_statuses",
    "test_crash_safety.py::test_sender_killed_while_dispatching",
    "test_crash_safety.py::test_receiver_killed_while_receiving",
    "test_delivery_failures.py::test_receiver_down_then_back",
    "test_delivery_failures.py::test_500s_are_retried_until_the_peer_recovers",
    "test_delivery_failures.py::test_422_fails_for_good_without_retry",
    "test_delivery_failures.py::test_max_attempts_dead_letters",
    "test_duplicates.py::test_same_packet_twice_and_conflicting_bytes",
    "test_operability.py::test_metrics_readyz_archive_and_secrets",
}
NODES = ("A", "B")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    key = f"{metafunc.definition.path.name}::{metafunc.definition.originalname}"
    if key in SECOND_BACKEND:
        metafunc.fixturenames.append("docnode_backend")
        metafunc.parametrize("docnode_backend", ["sqlite", "pg-amqp"], indirect=True)


@pytest.fixture
def docnode_backend(request: pytest.FixtureRequest,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Rule above. Sync on purpose: it runs before the test's event loop does."""
    if request.param != "pg-amqp":
        yield request.param
        return
    pg: PgServer = request.getfixturevalue("pg_server")
    broker: AmqpServer = request.getfixturevalue("amqp_server")
    names = {node: asyncio.run(pg.create()) for node in NODES}
    active = backends.PgAmqp({n: pg.database_url(db) for n, db in names.items()},
                             AmqpTarget(broker.url, f"dntest.{secrets.token_hex(5)}"))
    monkeypatch.setenv(backends.AMQP_ENV, broker.url)
    backends.ACTIVE = active
    try:
        yield request.param
    finally:
        backends.ACTIVE = None
        for node in NODES:
            asyncio.run(delete_prefix(AmqpTarget(broker.url, active.prefix(node))))
        for db in names.values():
            asyncio.run(pg.drop(db))
