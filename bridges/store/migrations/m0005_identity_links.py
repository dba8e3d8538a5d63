"""Account linking: pending link requests, the bot's direct chats, linked users' forum groups."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

DESCRIPTION = "identity links"


def upgrade(op: Operations) -> None:
    # One ``!link``: a one-time page token (kept as its SHA-256 only, so a copy of the store
    # cannot be used to link), the DiscourseConnect nonce once the page sent the user to the
    # forum, and the Matrix user the answer will be bound to.
    op.create_table(
        "link_requests",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("matrix_user_id", sa.String(255), nullable=False),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("nonce", sa.String(64), unique=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("opened_at", sa.Float()),
        sa.Column("used_at", sa.Float()),
    )
    op.create_index("link_requests_user", "link_requests", ["matrix_user_id"])
    # Rooms a Matrix user opened as a direct chat with porch's bot: where commands are heard.
    op.create_table(
        "bot_chats",
        sa.Column("room_id", sa.String(255), primary_key=True),
        sa.Column("matrix_user_id", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    # The forum groups of a linked user as the forum stated them when it confirmed the link,
    # for access decisions.
    op.create_table(
        "identity_groups",
        sa.Column("matrix_user_id", sa.String(255), primary_key=True),
        sa.Column("group_name", sa.String(255), primary_key=True),
    )
