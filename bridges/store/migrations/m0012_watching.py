"""Watching: activity seen by each watch, its alerts (one per thread and kind), digests sent,
and the dashboard's sign-ins."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

DESCRIPTION = "watching"


def upgrade(op: Operations) -> None:
    # One row per post or message a watch saw (and was allowed to see), once per inbox event:
    # a redelivered or retried event counts once.
    op.create_table(
        "watch_activity",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("watch", sa.String(255), nullable=False),
        sa.Column("inbox_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("thread", sa.String(512), nullable=False),
        sa.Column("title", sa.Text()),
        sa.Column("topic_id", sa.BigInteger()),
        sa.Column("category_id", sa.BigInteger()),
        sa.Column("room_id", sa.String(255)),
        sa.Column("event_id", sa.String(255)),
        sa.Column("link", sa.String(255)),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        # The post's keywords (policies.watching.keywords), for emerging words.
        sa.Column("words", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("forum_url", sa.Text()),
        sa.Column("matrix_url", sa.Text()),
        sa.UniqueConstraint("watch", "inbox_id", name="watch_activity_once"),
    )
    op.create_index("watch_activity_thread", "watch_activity", ["watch", "thread", "at"])
    op.create_index("watch_activity_at", "watch_activity", ["watch", "at"])
    # Alerts: unique per watch, thread and kind, so that a thread alerts once per reason even
    # across restarts; each channel records when it was sent, so a retry sends only the rest.
    op.create_table(
        "watch_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("watch", sa.String(255), nullable=False),
        sa.Column("thread", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("raised_at", sa.Float(), nullable=False),
        sa.Column("due_at", sa.Float(), nullable=False),
        sa.Column("folded", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("room_sent_at", sa.Float()),
        sa.Column("email_sent_at", sa.Float()),
        sa.Column("webhook_sent_at", sa.Float()),
        sa.Column("done_at", sa.Float()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text()),
        sa.UniqueConstraint("watch", "thread", "kind", name="watch_alerts_once"),
    )
    op.create_index("watch_alerts_due", "watch_alerts", ["done_at", "due_at"])
    op.create_table(
        "watch_digests",
        sa.Column("watch", sa.String(255), primary_key=True),
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("made_at", sa.Float(), nullable=False),
        sa.Column("room_sent_at", sa.Float()),
        sa.Column("email_sent_at", sa.Float()),
    )
    # Dashboard sign-ins: DiscourseConnect nonces waiting for the forum's answer, then sessions
    # (kept as the SHA-256 of the cookie) with the groups the forum stated.
    op.create_table(
        "dashboard_nonces",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "dashboard_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("groups", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
