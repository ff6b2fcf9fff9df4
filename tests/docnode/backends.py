"""The daemon suite's second backend (issue 8): the same real-node tests on PostgreSQL (payloads
in the database) and RabbitMQ. ``tests/docnode/conftest.py`` picks the tests and sets
:data:`ACTIVE` for one test; :func:`apply` (called by ``nodes_kit.make_net``) points every
node of the network at its own throw-away database and its own broker name prefix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from docnode.localnet import LocalNet
from tests.servers import AmqpTarget

AMQP_ENV = "DOCNODE_TEST_NODE_AMQP_URL"
"""The broker URL reaches the nodes through the environment, never through a config file."""


@dataclass(frozen=True)
class PgAmqp:
    databases: dict[str, str]
    """Node name -> its PostgreSQL URL."""
    amqp: AmqpTarget

    def prefix(self, name: str) -> str:
        return f"{self.amqp.prefix}.{name}"

    def overrides(self, name: str) -> dict[str, dict[str, Any]]:
        return {"store": {"url": self.databases[name], "blobs": "database"},
                "queue": {"backend": "amqp", "amqp_url_env": AMQP_ENV,
                          "amqp_prefix": self.prefix(name)}}


ACTIVE: PgAmqp | None = None
"""Set for the duration of a ``pg-amqp`` test; ``None``: the default SQLite + sql queue."""


def apply(net: LocalNet) -> None:
    if ACTIVE is None:
        return
    for node in net.nodes:
        node.update_config(ACTIVE.overrides(node.name))
