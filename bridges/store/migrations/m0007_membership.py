"""Membership: invites porch made into managed rooms, and knocks waiting for a facilitator."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

DESCRIPTION = "membership"


def upgrade(op: Operations) -> None:
    # Who porch invited into a managed room because a forum group entitles them. Someone who
    # then leaves on their own is not invited again on every reconciliation; the row goes when
    # porch removes them, so a later entitlement invites them anew.
    op.create_table(
        "membership_invites",
        sa.Column("room_id", sa.String(255), primary_key=True),
        sa.Column("matrix_user_id", sa.String(255), primary_key=True),
        sa.Column("invited_at", sa.Float(), nullable=False),
    )
    # A knock porch could not accept itself (the knocker is not a linked member of an entitled
    # group): announced to the facilitators, until one of them accepts it.
    op.create_table(
        "pending_knocks",
        sa.Column("room_id", sa.String(255), primary_key=True),
        sa.Column("matrix_user_id", sa.String(255), primary_key=True),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("knocked_at", sa.Float(), nullable=False),
        # Where the notice went (the facilitators' room, or the room itself).
        sa.Column("notice_room_id", sa.String(255), nullable=False),
        # pending, accepted
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(255)),
        sa.Column("decided_at", sa.Float()),
    )
    op.create_index("pending_knocks_status", "pending_knocks", ["status"])
