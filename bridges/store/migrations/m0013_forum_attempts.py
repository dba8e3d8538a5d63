"""Chat -> forum attempts: a post creation porch started, written before the forum is asked.

A row left without a mapping means the forum may have created the post while porch died; the
retry looks for that post before posting again (:mod:`bridges.relay.chat_to_forum.forum_once`). The
text itself is not kept, only a digest of it, so the table holds no message content.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

DESCRIPTION = "forum attempts"


def upgrade(op: Operations) -> None:
    op.create_table(
        "forum_attempts",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("topic_id", sa.BigInteger()),
        sa.Column("raw_digest", sa.String(64), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
    )
    # Finds an earlier post of the same text by the same forum account (the forum refuses
    # repeated text from one account for ``unique_posts_mins``).
    op.create_index(
        "forum_attempts_text", "forum_attempts", ["username", "raw_digest", "started_at"]
    )
