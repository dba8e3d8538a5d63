"""Chat messages merged into one forum post: which Matrix event is which part of which post."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

DESCRIPTION = "parts of merged chat posts"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade(op: Operations) -> None:
    # One row per Matrix message inside a forum post written with merging on (``merge_window``):
    # the post's first message too, so that every part of such a post can be edited, redacted
    # and replied to on its own. ``sent_at`` is the message's origin_server_ts in seconds.
    op.create_table(
        "post_parts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("link", sa.String(128), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("topic_id", sa.BigInteger(), nullable=False),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("redacted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("room_id", "event_id", name="post_parts_room_event"),
    )
    op.create_index("post_parts_post", "post_parts", ["link", "post_id"])
    op.create_index("post_parts_sender", "post_parts", ["link", "topic_id", "sender"])
