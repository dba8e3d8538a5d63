"""Bot mode's session: porch's access token and device, and where its ``/sync`` stopped.

``next_batch`` is written only after the events of a sync are in the inbox. A crash between the
two fetches that sync again on restart, and the inbox's keys (``matrix:event:<id>``) drop the
events it already holds: delayed, never lost, never recorded twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from bridges.model import UserID
from bridges.store.db import Database

bot_sessions = sa.table(
    "bot_sessions",
    sa.column("user_id", sa.String),
    sa.column("device_id", sa.String),
    sa.column("access_token", sa.Text),
    sa.column("next_batch", sa.Text),
    sa.column("synced_at", sa.Float),
    sa.column("failure", sa.Text),
    sa.column("updated_at", sa.Float),
)


@dataclass(frozen=True, slots=True)
class BotSession:
    """What porch remembers of its account's session.

    ``access_token`` is ``None`` when porch has not logged in (or the token was refused);
    ``next_batch`` is ``None`` before the first sync; ``failure`` says why syncing stopped.
    """

    user_id: UserID
    device_id: str | None
    access_token: str | None
    next_batch: str | None
    synced_at: float | None
    failure: str | None

    def __repr__(self) -> str:
        # Never print the token, whoever logs this object.
        return (
            f"BotSession(user_id={self.user_id!r}, device_id={self.device_id!r}, "
            f"logged_in={self.access_token is not None}, next_batch={self.next_batch!r}, "
            f"synced_at={self.synced_at!r}, failure={self.failure!r})"
        )


class SyncState:
    """The ``bot_sessions`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def session(self, user_id: UserID) -> BotSession | None:
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(bot_sessions).where(bot_sessions.c.user_id == user_id)
            ).first()
        if row is None:
            return None
        return BotSession(
            UserID(row.user_id),
            row.device_id,
            row.access_token,
            row.next_batch,
            row.synced_at,
            row.failure,
        )

    def save_login(self, user_id: UserID, device_id: str, access_token: str, now: float) -> None:
        """Remember a new login; where the sync stopped stays as it was."""
        self._upsert(user_id, now, device_id=device_id, access_token=access_token)

    def forget_token(self, user_id: UserID, token: str, now: float) -> bool:
        """The homeserver refused ``token``: forget it, unless another process has stored a
        newer login meanwhile (that one is kept). Whether it was forgotten."""
        with self.db.begin() as conn:
            forgotten = conn.execute(
                sa.update(bot_sessions)
                .where(bot_sessions.c.user_id == user_id, bot_sessions.c.access_token == token)
                .values(access_token=None, updated_at=now)
            ).rowcount
        return bool(forgotten)

    def save_batch(self, user_id: UserID, next_batch: str, now: float) -> None:
        """The events up to ``next_batch`` are in the inbox; a restart syncs from there."""
        self._upsert(user_id, now, next_batch=next_batch, synced_at=now, failure=None)

    def save_failure(self, user_id: UserID, failure: str | None, now: float) -> None:
        """Why porch stopped syncing (``None``: it syncs again)."""
        self._upsert(user_id, now, failure=failure)

    def _upsert(self, user_id: UserID, now: float, **values: Any) -> None:
        # One statement, so that two processes starting together cannot both insert the row.
        values["updated_at"] = now
        statement = (
            self.db.insert(bot_sessions)
            .values(user_id=user_id, **values)
            .on_conflict_do_update(index_elements=["user_id"], set_=values)
        )
        with self.db.begin() as conn:
            conn.execute(statement)
