"""the agency directory, the axis registry's origin and client timestamps (issue 6).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

1. ``agencies`` (agency role): the last getAgenciesList answer of the node's axis, kept so
   that a restart, ``docnode peers`` and the clerk API's directory see it without asking the
   axis again. Routing does not depend on it (``docnode.directory``).
2. ``axis_client_timestamps`` (axis role): every request timestamp a client system has
   used, first accepted while fresh, so that the SDK's reuse of one timestamp for the life
   of its service object keeps working when it has grown old (``docnode.axis.timestamps``).
3. ``axis_organs.source`` (axis role): ``cli`` for OrganIds registered with ``docnode axis
   register-system``, ``config`` for those the config's ``[[axis_systems]]`` declare, so that
   an entry removed from the config is removed from the registry, and only such an entry.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("organ_id", sa.String(length=35), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("mail", sa.String(length=255), nullable=False),
        sa.Column("parent", sa.String(length=35), nullable=False),
        sa.Column("axis_id", sa.String(length=64), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("organ_id"),
    )
    op.create_table(
        "axis_client_timestamps",
        sa.Column("system_id", sa.String(length=128), nullable=False),
        sa.Column("timestamp", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["system_id"], ["axis_systems.system_id"],
                                name="fk_axis_client_timestamps_system"),
        sa.PrimaryKeyConstraint("system_id", "timestamp"),
    )
    op.create_index(op.f("ix_axis_client_timestamps_last_seen"), "axis_client_timestamps",
                    ["last_seen"], unique=False)
    # batch mode: SQLite cannot ALTER a column in place; a server default lets existing rows
    # (all registered from the CLI so far) take the value ``cli``.
    with op.batch_alter_table("axis_organs") as batch:
        batch.add_column(sa.Column("source", sa.String(length=16), nullable=False,
                                   server_default="cli"))


def downgrade() -> None:
    with op.batch_alter_table("axis_organs") as batch:
        batch.drop_column("source")
    op.drop_index(op.f("ix_axis_client_timestamps_last_seen"),
                  table_name="axis_client_timestamps")
    op.drop_table("axis_client_timestamps")
    op.drop_table("agencies")
