"""Held items keep what they were judged on and the tier their content comes from."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

DESCRIPTION = "review items keep their text and source tier"


def upgrade(op: Operations) -> None:
    # ``kept``: a held chat message's text as the forum will get it (JSON), judged and shown to
    # the moderators; an approval posts it rather than rendering the event again. Items held
    # before this migration have none: they are rendered again, as before.
    # ``source_tier``: the tier of the space the held content was written in; a moderators room
    # more open than that is not shown the text. Unknown (older items) counts as private.
    op.add_column("review_items", sa.Column("kept", sa.Text(), nullable=True))
    op.add_column("review_items", sa.Column("source_tier", sa.String(16), nullable=True))
