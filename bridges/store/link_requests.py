"""Account linking state: pending ``!link`` requests, the bot's direct chats, forum groups.

A request is used at most once: opening its page and accepting the forum's answer are each a
conditional ``UPDATE`` that only one caller can win, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from bridges.model import RoomID, UserID
from bridges.store.db import Database
from bridges.store.identities import Identity, identities

link_requests = sa.table(
    "link_requests",
    sa.column("token_hash", sa.String),
    sa.column("matrix_user_id", sa.String),
    sa.column("room_id", sa.String),
    sa.column("nonce", sa.String),
    sa.column("created_at", sa.Float),
    sa.column("expires_at", sa.Float),
    sa.column("opened_at", sa.Float),
    sa.column("used_at", sa.Float),
)

bot_chats = sa.table(
    "bot_chats",
    sa.column("room_id", sa.String),
    sa.column("matrix_user_id", sa.String),
    sa.column("created_at", sa.Float),
)

identity_groups = sa.table(
    "identity_groups",
    sa.column("matrix_user_id", sa.String),
    sa.column("group_name", sa.String),
)


def token_hash(token: str) -> str:
    """What the store keeps of a page token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class LinkRequest:
    """One ``!link``: who asked, where to answer them, and until when it may be used."""

    matrix_user_id: UserID
    room_id: RoomID
    expires_at: float


class LinkRequests:
    """Pending link requests: a page token first, then the nonce sent to the forum."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, token: str, user: UserID, room_id: RoomID, now: float, expires_at: float
    ) -> None:
        """Record a new request; earlier unused requests of the same user stop working."""
        with self.db.begin() as conn:
            conn.execute(
                sa.delete(link_requests).where(
                    link_requests.c.matrix_user_id == user, link_requests.c.used_at.is_(None)
                )
            )
            conn.execute(
                sa.insert(link_requests).values(
                    token_hash=token_hash(token),
                    matrix_user_id=user,
                    room_id=room_id,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    def pending(self, token: str, now: float) -> LinkRequest | None:
        """The request of ``token`` if its page can still be opened (unopened, unexpired)."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(
                    link_requests.c.matrix_user_id,
                    link_requests.c.room_id,
                    link_requests.c.expires_at,
                ).where(
                    link_requests.c.token_hash == token_hash(token),
                    link_requests.c.opened_at.is_(None),
                    link_requests.c.expires_at > now,
                )
            ).first()
        if row is None:
            return None
        return LinkRequest(UserID(row.matrix_user_id), RoomID(row.room_id), row.expires_at)

    def open(self, token: str, nonce: str, now: float) -> LinkRequest | None:
        """Attach ``nonce`` to the request of ``token`` if it is unopened and unexpired.

        None when there is no such request, it expired, or its page was opened before.
        """
        where = sa.and_(
            link_requests.c.token_hash == token_hash(token),
            link_requests.c.opened_at.is_(None),
            link_requests.c.expires_at > now,
        )
        with self.db.begin() as conn:
            row = conn.execute(
                sa.select(
                    link_requests.c.matrix_user_id,
                    link_requests.c.room_id,
                    link_requests.c.expires_at,
                ).where(where)
            ).first()
            if row is None:
                return None
            won = conn.execute(
                sa.update(link_requests).where(where).values(opened_at=now, nonce=nonce)
            ).rowcount
        if not won:
            return None
        return LinkRequest(UserID(row.matrix_user_id), RoomID(row.room_id), row.expires_at)

    def consume(self, conn: sa.Connection, nonce: str, now: float) -> LinkRequest | None:
        """Mark the request of ``nonce`` used, inside the caller's transaction ``conn``.

        None when no opened request has that nonce, it expired, or it was used already: a
        replayed answer of the forum finds nothing.
        """
        where = sa.and_(
            link_requests.c.nonce == nonce,
            link_requests.c.opened_at.is_not(None),
            link_requests.c.used_at.is_(None),
            link_requests.c.expires_at > now,
        )
        row = conn.execute(
            sa.select(
                link_requests.c.matrix_user_id,
                link_requests.c.room_id,
                link_requests.c.expires_at,
            ).where(where)
        ).first()
        if row is None:
            return None
        if not conn.execute(sa.update(link_requests).where(where).values(used_at=now)).rowcount:
            return None
        return LinkRequest(UserID(row.matrix_user_id), RoomID(row.room_id), row.expires_at)

    def purge(self, before: float) -> int:
        """Forget requests that expired before ``before``."""
        with self.db.begin() as conn:
            result = conn.execute(
                sa.delete(link_requests).where(link_requests.c.expires_at < before)
            )
        return int(result.rowcount)


class BotChats:
    """Direct chats users opened with porch's bot."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, room_id: RoomID, user: UserID, now: float) -> None:
        with self.db.begin() as conn:
            conn.execute(sa.delete(bot_chats).where(bot_chats.c.room_id == room_id))
            conn.execute(
                sa.insert(bot_chats).values(room_id=room_id, matrix_user_id=user, created_at=now)
            )

    def user_of(self, room_id: RoomID) -> UserID | None:
        """The user whose direct chat with the bot ``room_id`` is, if it is one."""
        with self.db.read() as conn:
            user = conn.execute(
                sa.select(bot_chats.c.matrix_user_id).where(bot_chats.c.room_id == room_id)
            ).scalar_one_or_none()
        return None if user is None else UserID(user)


class IdentityGroups:
    """The forum groups of linked users, as the forum stated them when it confirmed a link."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def replace(conn: sa.Connection, user: UserID, groups: Iterable[str]) -> None:
        """Set ``user``'s groups inside the caller's transaction ``conn``."""
        conn.execute(sa.delete(identity_groups).where(identity_groups.c.matrix_user_id == user))
        names = sorted(set(groups))
        if names:
            conn.execute(
                sa.insert(identity_groups),
                [{"matrix_user_id": user, "group_name": name} for name in names],
            )

    def clear(self, user: UserID) -> None:
        with self.db.begin() as conn:
            self.replace(conn, user, ())

    def of(self, user: UserID) -> frozenset[str]:
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(identity_groups.c.group_name).where(
                    identity_groups.c.matrix_user_id == user
                )
            ).scalars()
            return frozenset(rows)


def record_identity(conn: sa.Connection, identity: Identity, groups: Iterable[str]) -> None:
    """Record a verified link and the user's groups inside the caller's transaction ``conn``,
    replacing any earlier link of either account (as :meth:`Identities.link` does)."""
    earlier = sa.or_(
        identities.c.matrix_user_id == identity.matrix_user_id,
        sa.func.lower(identities.c.forum_username) == identity.forum_username.lower(),
    )
    for user in conn.execute(sa.select(identities.c.matrix_user_id).where(earlier)).scalars():
        IdentityGroups.replace(conn, UserID(user), ())
    conn.execute(sa.delete(identities).where(earlier))
    conn.execute(
        sa.insert(identities).values(
            matrix_user_id=identity.matrix_user_id,
            forum_username=identity.forum_username,
            forum_user_id=identity.forum_user_id,
            verified_via=identity.verified_via,
            verified_at=identity.verified_at,
        )
    )
    IdentityGroups.replace(conn, identity.matrix_user_id, groups)
