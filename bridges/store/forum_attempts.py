"""Post creations porch started on the forum for chat messages (migration m0013).

An attempt is written before the forum is asked to create the post. When the worker comes
back to a message that already has one (it crashed, or the forum's answer was lost), the forum
may hold the post already; :mod:`bridges.relay.chat_to_forum.forum_once` looks for it before
posting again. Only a digest of the text is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from bridges.model import EventID, TopicID
from bridges.store.db import Database

forum_attempts = sa.table(
    "forum_attempts",
    sa.column("event_id", sa.String),
    sa.column("username", sa.String),
    sa.column("topic_id", sa.BigInteger),
    sa.column("raw_digest", sa.String),
    sa.column("started_at", sa.Float),
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """A post creation started for ``event_id``: as whom, where, and what text (its digest).
    ``started_at`` is the first attempt's time (porch's clock)."""

    event_id: EventID
    username: str
    topic_id: TopicID | None
    raw_digest: str
    started_at: float


class ForumAttempts:
    """The ``forum_attempts`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def start(
        self,
        event_id: EventID,
        username: str,
        topic_id: TopicID | None,
        raw_digest: str,
        now: float,
    ) -> None:
        """Note that porch is about to ask the forum for this post (before asking). A later
        attempt keeps the first one's time, so a search covers every attempt."""
        with self.db.begin() as conn:
            known = conn.execute(
                sa.select(forum_attempts.c.event_id).where(forum_attempts.c.event_id == event_id)
            ).first()
            values = {
                "username": username.lower(),
                "topic_id": topic_id,
                "raw_digest": raw_digest,
            }
            if known is None:
                conn.execute(
                    sa.insert(forum_attempts).values(event_id=event_id, started_at=now, **values)
                )
            else:
                conn.execute(
                    sa.update(forum_attempts)
                    .where(forum_attempts.c.event_id == event_id)
                    .values(**values)
                )

    def forget(self, event_id: EventID) -> None:
        """The forum answered without creating anything: there is no earlier post to find."""
        with self.db.begin() as conn:
            conn.execute(sa.delete(forum_attempts).where(forum_attempts.c.event_id == event_id))

    def get(self, event_id: EventID) -> Attempt | None:
        """The attempt started for ``event_id``, if any."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(forum_attempts).where(forum_attempts.c.event_id == event_id)
            ).first()
        if row is None:
            return None
        m = row._mapping
        return Attempt(
            event_id=EventID(m["event_id"]),
            username=str(m["username"]),
            topic_id=None if m["topic_id"] is None else TopicID(int(m["topic_id"])),
            raw_digest=str(m["raw_digest"]),
            started_at=float(m["started_at"]),
        )

    def repeated(self, username: str, raw_digest: str, since: float, other_than: EventID) -> bool:
        """Whether another message was posted as ``username`` with the same text since
        ``since``."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(forum_attempts.c.event_id)
                .where(
                    forum_attempts.c.username == username.lower(),
                    forum_attempts.c.raw_digest == raw_digest,
                    forum_attempts.c.started_at >= since,
                    forum_attempts.c.event_id != other_than,
                )
                .limit(1)
            ).first()
        return row is not None
