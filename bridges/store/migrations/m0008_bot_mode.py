"""Bot mode: the session of porch's own Matrix account and where its sync stopped."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

DESCRIPTION = "bot mode"


def upgrade(op: Operations) -> None:
    # One row per account porch has logged in as (``matrix.bot.user_id``): the access token and
    # device the homeserver gave it, so that a restart resumes the session instead of adding a
    # device; and ``next_batch``, written after the events of each sync are in the inbox, so
    # that a restart resumes the sync where it stopped. ``failure`` says why porch gave up
    # syncing (readiness reads it); ``synced_at`` is the last successful sync.
    op.create_table(
        "bot_sessions",
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("device_id", sa.String(255)),
        sa.Column("access_token", sa.Text()),
        sa.Column("next_batch", sa.Text()),
        sa.Column("synced_at", sa.Float()),
        sa.Column("failure", sa.Text()),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
