"""The first schema: inbox, Matrix transactions, mappings, identities, audit, ghosts and media."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

DESCRIPTION = "initial schema"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade(op: Operations) -> None:
    op.create_table(
        "inbox",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("conversation", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float()),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("claimed_until", sa.Float()),
    )
    op.create_index("inbox_pending", "inbox", ["status", "conversation", "id"])
    # Every key a delivery can be recognised by (delivery id, post id + version, event id).
    op.create_table(
        "inbox_keys",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("inbox_id", _ID, sa.ForeignKey("inbox.id"), nullable=False),
    )
    op.create_table(
        "as_transactions",
        sa.Column("txn_id", sa.String(255), primary_key=True),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
    )
    op.create_table(
        "threads",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("link", sa.String(128), nullable=False),
        sa.Column("topic_id", sa.BigInteger(), nullable=False),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("root_event_id", sa.String(255), nullable=False),
        sa.Column("root_post_id", sa.BigInteger()),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("link", "topic_id", name="threads_link_topic"),
        sa.UniqueConstraint("room_id", "root_event_id", name="threads_room_root"),
    )
    op.create_table(
        "messages",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("link", sa.String(128), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("topic_id", sa.BigInteger(), nullable=False),
        sa.Column("post_number", sa.Integer()),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("redacted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("link", "post_id", name="messages_link_post"),
        sa.UniqueConstraint("room_id", "event_id", name="messages_room_event"),
    )
    op.create_table(
        "identities",
        sa.Column("matrix_user_id", sa.String(255), primary_key=True),
        sa.Column("forum_username", sa.String(255), nullable=False, unique=True),
        sa.Column("forum_user_id", sa.BigInteger()),
        sa.Column("verified_via", sa.String(32), nullable=False),
        sa.Column("verified_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("inbox_id", sa.BigInteger()),
        sa.Column("link", sa.String(128)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("detail", sa.Text()),
    )
    op.create_index("audit_at", "audit", ["at"])
    op.create_table(
        "ghosts",
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("displayname", sa.String(255)),
        sa.Column("avatar_source", sa.Text()),
        sa.Column("avatar_url", sa.String(255)),
        sa.Column("registered_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "media",
        sa.Column("source_url", sa.String(1024), primary_key=True),
        sa.Column("content_uri", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
