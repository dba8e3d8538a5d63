"""Forum -> chat extras: a post's media events, what each mirrored file is, reactions <-> likes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

DESCRIPTION = "post media events, media info, reactions and likes"

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade(op: Operations) -> None:
    # The m.image / m.file events sent after a post's text, one per upload in the post. The
    # ``messages`` table maps a post to its one text event; these are the post's other events,
    # so that deleting the post also redacts them and a retry does not send them twice.
    op.create_table(
        "post_media",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("link", sa.String(128), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("source_url", sa.String(1024), nullable=False),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("link", "post_id", "source_url", name="post_media_link_post_url"),
        sa.UniqueConstraint("room_id", "event_id", name="post_media_room_event"),
    )
    # What a file mirrored into the media repository is, for the ``info`` of its event when
    # the same forum file is sent again from the cache (``media`` holds only the mxc URI).
    op.create_table(
        "media_info",
        sa.Column("source_url", sa.String(1024), primary_key=True),
        sa.Column("mimetype", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer()),
        sa.Column("height", sa.Integer()),
    )
    # A Matrix reaction and the forum like it stands for, whichever side it started on.
    op.create_table(
        "reactions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("link", sa.String(128), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("forum_username", sa.String(255), nullable=False),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("room_id", "event_id", name="reactions_room_event"),
    )
    op.create_index("reactions_like", "reactions", ["link", "post_id", "forum_username"])
