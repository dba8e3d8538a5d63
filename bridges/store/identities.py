"""Matrix users and the forum accounts they proved they own."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from bridges.model import ForumUsername, UserID
from bridges.store.db import Database

identities = sa.table(
    "identities",
    sa.column("matrix_user_id", sa.String),
    sa.column("forum_username", sa.String),
    sa.column("forum_user_id", sa.BigInteger),
    sa.column("verified_via", sa.String),
    sa.column("verified_at", sa.Float),
)


@dataclass(frozen=True, slots=True)
class Identity:
    matrix_user_id: UserID
    forum_username: ForumUsername
    forum_user_id: int | None
    verified_via: str
    verified_at: float


class Identities:
    def __init__(self, db: Database) -> None:
        self.db = db

    def link(self, identity: Identity) -> None:
        """Record a verified link, replacing any earlier one of either account."""
        with self.db.begin() as conn:
            conn.execute(
                sa.delete(identities).where(
                    sa.or_(
                        identities.c.matrix_user_id == identity.matrix_user_id,
                        identities.c.forum_username == identity.forum_username,
                    )
                )
            )
            conn.execute(
                sa.insert(identities).values(
                    matrix_user_id=identity.matrix_user_id,
                    forum_username=identity.forum_username,
                    forum_user_id=identity.forum_user_id,
                    verified_via=identity.verified_via,
                    verified_at=identity.verified_at,
                )
            )

    def unlink(self, matrix_user_id: UserID) -> bool:
        with self.db.begin() as conn:
            result = conn.execute(
                sa.delete(identities).where(identities.c.matrix_user_id == matrix_user_id)
            )
        return bool(result.rowcount)

    def by_matrix_user(self, matrix_user_id: UserID) -> Identity | None:
        return self._one(identities.c.matrix_user_id == matrix_user_id)

    def by_forum_username(self, username: ForumUsername) -> Identity | None:
        return self._one(sa.func.lower(identities.c.forum_username) == username.lower())

    def _one(self, where: sa.ColumnElement[bool]) -> Identity | None:
        with self.db.read() as conn:
            row = conn.execute(sa.select(identities).where(where)).first()
        if row is None:
            return None
        return Identity(
            matrix_user_id=UserID(row.matrix_user_id),
            forum_username=ForumUsername(row.forum_username),
            forum_user_id=row.forum_user_id,
            verified_via=row.verified_via,
            verified_at=row.verified_at,
        )
