"""Retractions: topics porch withdrew from a link, so that nothing of them is carried again."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

DESCRIPTION = "retractions"


def upgrade(op: Operations) -> None:
    # One row per (link, topic) whose copies porch redacted because the topic may no longer be
    # shown there (moved behind the wall, unlisted, its first post hidden, refused by the
    # policy). It is written before the first redaction, so that a crash part-way resumes the
    # retraction and no later post, edit or recovery carries half of the topic back.
    op.create_table(
        "retractions",
        sa.Column("link", sa.String(128), primary_key=True),
        sa.Column("topic_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(255), nullable=False),
        sa.Column("inbox_id", sa.BigInteger()),
        sa.Column("at", sa.Float(), nullable=False),
    )
