"""Watched words and protections: the forum's word list as last read, and who sent what when."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

DESCRIPTION = "watched words and protections"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade(op: Operations) -> None:
    # The forum's watched words as last read (one row per source, ``forum``), so that a forum
    # outage or a restart keeps the list in force; no row means "never read" and, with words
    # enabled, crossings wait (fail closed).
    op.create_table(
        "watched_word_lists",
        sa.Column("source", sa.String(32), primary_key=True),
        # JSON list of {word, action, replacement, case_sensitive}.
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("regular_expressions", sa.Boolean(), nullable=False),
        sa.Column("fetched_at", sa.Float(), nullable=False),
    )
    # One row per chat message a sender asked to carry, for the flood limit. Keyed by the
    # inbox event so that a retried event is counted once; old rows are pruned.
    op.create_table(
        "moderation_activity",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("inbox_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.UniqueConstraint("sender", "inbox_id", name="uq_moderation_activity_event"),
    )
    op.create_index("ix_moderation_activity_sender_at", "moderation_activity", ["sender", "at"])
