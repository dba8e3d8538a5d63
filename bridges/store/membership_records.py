"""Membership state: the invites porch made into managed rooms, and knocks waiting for a
facilitator (:mod:`bridges.membership`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from bridges.model import EventID, RoomID, UserID
from bridges.store.db import Database

membership_invites = sa.table(
    "membership_invites",
    sa.column("room_id", sa.String),
    sa.column("matrix_user_id", sa.String),
    sa.column("invited_at", sa.Float),
)

pending_knocks = sa.table(
    "pending_knocks",
    sa.column("room_id", sa.String),
    sa.column("matrix_user_id", sa.String),
    sa.column("event_id", sa.String),
    sa.column("reason", sa.Text),
    sa.column("knocked_at", sa.Float),
    sa.column("notice_room_id", sa.String),
    sa.column("status", sa.String),
    sa.column("decided_by", sa.String),
    sa.column("decided_at", sa.Float),
)

PENDING = "pending"
ACCEPTED = "accepted"


@dataclass(frozen=True, slots=True)
class Knock:
    """A knock on a managed room that a facilitator has to decide on."""

    room_id: RoomID
    matrix_user_id: UserID
    event_id: EventID
    reason: str | None
    knocked_at: float
    notice_room_id: RoomID
    status: str = PENDING
    decided_by: UserID | None = None
    decided_at: float | None = None


class MembershipRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- invites ------------------------------------------------------------------------------

    def invited(self, room_id: RoomID, user: UserID) -> bool:
        """Whether porch invited ``user`` into ``room_id`` for an entitlement it still counts."""
        with self.db.read() as conn:
            found = conn.execute(
                sa.select(membership_invites.c.invited_at).where(
                    membership_invites.c.room_id == room_id,
                    membership_invites.c.matrix_user_id == user,
                )
            ).first()
        return found is not None

    def invitees(self, room_id: RoomID) -> list[UserID]:
        """The users porch invited into ``room_id`` and has not removed since."""
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(membership_invites.c.matrix_user_id).where(
                    membership_invites.c.room_id == room_id
                )
            ).all()
        return sorted(UserID(r.matrix_user_id) for r in rows)

    def record_invite(self, room_id: RoomID, user: UserID, now: float) -> None:
        with self.db.begin() as conn:
            where = sa.and_(
                membership_invites.c.room_id == room_id,
                membership_invites.c.matrix_user_id == user,
            )
            conn.execute(sa.delete(membership_invites).where(where))
            conn.execute(
                sa.insert(membership_invites).values(
                    room_id=room_id, matrix_user_id=user, invited_at=now
                )
            )

    def forget_invite(self, room_id: RoomID, user: UserID) -> None:
        with self.db.begin() as conn:
            conn.execute(
                sa.delete(membership_invites).where(
                    membership_invites.c.room_id == room_id,
                    membership_invites.c.matrix_user_id == user,
                )
            )

    # --- knocks -------------------------------------------------------------------------------

    def queue_knock(self, knock: Knock) -> bool:
        """Record a pending knock; False when one of the same user on the same room is already
        pending (a second knock is not announced again)."""
        with self.db.begin() as conn:
            where = sa.and_(
                pending_knocks.c.room_id == knock.room_id,
                pending_knocks.c.matrix_user_id == knock.matrix_user_id,
            )
            status = conn.execute(sa.select(pending_knocks.c.status).where(where)).scalar()
            if status == PENDING:
                return False
            conn.execute(sa.delete(pending_knocks).where(where))
            conn.execute(
                sa.insert(pending_knocks).values(
                    room_id=knock.room_id,
                    matrix_user_id=knock.matrix_user_id,
                    event_id=knock.event_id,
                    reason=knock.reason,
                    knocked_at=knock.knocked_at,
                    notice_room_id=knock.notice_room_id,
                    status=PENDING,
                )
            )
        return True

    def knock(self, room_id: RoomID, user: UserID) -> Knock | None:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(pending_knocks).where(
                    pending_knocks.c.room_id == room_id,
                    pending_knocks.c.matrix_user_id == user,
                )
            ).first()
        return None if row is None else _knock(row)

    def pending(self, notice_room_id: RoomID | None = None) -> list[Knock]:
        """Pending knocks, oldest first (announced in ``notice_room_id``, if given)."""
        query = sa.select(pending_knocks).where(pending_knocks.c.status == PENDING)
        if notice_room_id is not None:
            query = query.where(pending_knocks.c.notice_room_id == notice_room_id)
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(pending_knocks.c.knocked_at)).all()
        return [_knock(row) for row in rows]

    def decide(self, room_id: RoomID, user: UserID, status: str, by: UserID, now: float) -> bool:
        """Settle a pending knock; False when there was none pending (decided already)."""
        with self.db.begin() as conn:
            result = conn.execute(
                sa.update(pending_knocks)
                .where(
                    pending_knocks.c.room_id == room_id,
                    pending_knocks.c.matrix_user_id == user,
                    pending_knocks.c.status == PENDING,
                )
                .values(status=status, decided_by=by, decided_at=now)
            )
        return bool(result.rowcount)


def _knock(row: sa.Row[Any]) -> Knock:
    return Knock(
        room_id=RoomID(str(row.room_id)),
        matrix_user_id=UserID(str(row.matrix_user_id)),
        event_id=EventID(str(row.event_id)),
        reason=None if row.reason is None else str(row.reason),
        knocked_at=float(row.knocked_at),
        notice_room_id=RoomID(str(row.notice_room_id)),
        status=str(row.status),
        decided_by=None if row.decided_by is None else UserID(str(row.decided_by)),
        decided_at=None if row.decided_at is None else float(row.decided_at),
    )
