"""Policy lists and sanctions: the rules porch follows, and every sanction it applied."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

DESCRIPTION = "policy lists and sanctions"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade(op: Operations) -> None:
    # The current rules of each followed policy room (MSC2313): one row per state event, so a
    # rule replaced or emptied (removed) changes exactly its row.
    op.create_table(
        "policy_rules",
        sa.Column("list_room", sa.String(255), primary_key=True),
        sa.Column("event_type", sa.String(128), primary_key=True),
        sa.Column("state_key", sa.String(512), primary_key=True),
        sa.Column("entity", sa.String(512), nullable=False),
        sa.Column("recommendation", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("sender", sa.String(255)),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    # One moderator's act and everything porch did for it across the boundary. ``actions`` is
    # a JSON list of the steps taken (ban in a room, mute, silence, hide...), each with what
    # undoing it needs (the power level it replaced, say).
    op.create_table(
        "sanctions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_ref", sa.String(255)),
        sa.Column("moderator", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("actions", sa.Text(), nullable=False),
        sa.Column("undone_at", sa.Float()),
        sa.Column("undone_by", sa.String(255)),
    )
    op.create_index("sanctions_target", "sanctions", ["target"])
