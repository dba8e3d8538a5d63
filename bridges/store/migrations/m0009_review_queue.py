"""The review queue: messages held for a moderator, and posts the forum queued for its own."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

DESCRIPTION = "review queue"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade(op: Operations) -> None:
    # One held crossing: the inbox event it came from (kept whole, as its neutral payload, so
    # that an approval delivers it through the normal code), the decision that held it and
    # what a moderator decided. ``subject`` tells apart the crossings of one event on one link
    # (a topic adopted with its first post and a reply).
    op.create_table(
        "review_items",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("inbox_id", sa.BigInteger(), nullable=False),
        sa.Column("link", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("direction", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("preview", sa.Text(), nullable=False),
        sa.Column("rule", sa.String(255), nullable=False),
        sa.Column("policy_version", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("decided_by", sa.String(255)),
        sa.Column("decided_at", sa.Float()),
        sa.Column("decision_note", sa.Text()),
        sa.Column("notice_event_id", sa.String(255)),
        sa.UniqueConstraint("inbox_id", "link", "subject", name="review_items_crossing"),
    )
    op.create_index("review_items_state", "review_items", ["state", "id"])
    op.create_index("review_items_notice", "review_items", ["notice_event_id"])
    # A chat message porch posted as its sender that the forum put in its own review queue
    # (``action: enqueued``): followed through ``reviewable_*`` webhooks until a forum
    # moderator decides, so that the post it becomes is known as the message's copy.
    op.create_table(
        "forum_reviewables",
        sa.Column("reviewable_id", sa.BigInteger(), primary_key=True),
        sa.Column("inbox_id", sa.BigInteger(), nullable=False),
        sa.Column("link", sa.String(255), nullable=False),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("thread_root", sa.String(255)),
        sa.Column("topic_id", sa.BigInteger()),
        # Who porch posted as and what: a post_created that comes before the forum's word on
        # the approval is known by them.
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("post_id", sa.BigInteger()),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("decided_at", sa.Float()),
        sa.Column("decided_by", sa.String(255)),
    )
    op.create_index("forum_reviewables_event", "forum_reviewables", ["room_id", "event_id"])
