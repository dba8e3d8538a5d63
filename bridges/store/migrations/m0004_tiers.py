"""Tiers: the security porch last read for each category and room it links."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

DESCRIPTION = "tiers"


def upgrade(op: Operations) -> None:
    # A category's security as the forum showed it (``/c/{id}/show.json`` or a ``category_*``
    # webhook), and the tier derived from it. A row is a cache: deleting it means "unknown",
    # and decisions that need the tier wait until it is read again.
    op.create_table(
        "category_security",
        sa.Column("category_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("slug", sa.String(255)),
        sa.Column("name", sa.String(255)),
        sa.Column("read_restricted", sa.Boolean(), nullable=False),
        # JSON object group name -> permission type; NULL when the forum did not show it.
        sa.Column("group_permissions", sa.Text()),
        sa.Column("tier", sa.String(16)),
        sa.Column("fetched_at", sa.Float(), nullable=False),
    )
    # A room's join rule and history visibility (room state, then state events), and its tier.
    op.create_table(
        "room_security",
        sa.Column("room_id", sa.String(255), primary_key=True),
        sa.Column("join_rule", sa.String(64)),
        sa.Column("history_visibility", sa.String(64)),
        sa.Column("tier", sa.String(16)),
        sa.Column("fetched_at", sa.Float(), nullable=False),
    )
