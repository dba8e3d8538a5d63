"""The parts of forum posts that hold several chat messages (a link's ``merge_window``).

With merging on, consecutive messages of one sender become one forum post; each message is a
part of it, marked in the post's text (:mod:`bridges.relay.chat_to_forum.chat_merging`). This table
says which Matrix event is which part, so that an edit or a redaction changes only its own part and
a redelivered message is recognised.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from bridges.model import EventID, LinkName, PostID, RoomID, TopicID, UserID
from bridges.store.db import Database

post_parts = sa.table(
    "post_parts",
    sa.column("id", sa.BigInteger),
    sa.column("link", sa.String),
    sa.column("post_id", sa.BigInteger),
    sa.column("topic_id", sa.BigInteger),
    sa.column("room_id", sa.String),
    sa.column("event_id", sa.String),
    sa.column("sender", sa.String),
    sa.column("sent_at", sa.Float),
    sa.column("created_at", sa.Float),
    sa.column("redacted", sa.Boolean),
)


@dataclass(frozen=True, slots=True)
class Part:
    """One chat message inside a forum post. ``sent_at``: its origin_server_ts, in seconds."""

    link: LinkName
    post_id: PostID
    topic_id: TopicID
    room_id: RoomID
    event_id: EventID
    sender: UserID
    sent_at: float
    redacted: bool = False


def _part(row: sa.Row[tuple[object, ...]]) -> Part:
    m = row._mapping
    return Part(
        link=LinkName(m["link"]),
        post_id=PostID(int(m["post_id"])),
        topic_id=TopicID(int(m["topic_id"])),
        room_id=RoomID(m["room_id"]),
        event_id=EventID(m["event_id"]),
        sender=UserID(m["sender"]),
        sent_at=float(m["sent_at"]),
        redacted=bool(m["redacted"]),
    )


class PostParts:
    """The ``post_parts`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, part: Part, now: float) -> None:
        """Record a part; recording the same event again is a no-op."""
        with self.db.begin() as conn:
            known = conn.execute(
                sa.select(post_parts.c.id).where(
                    post_parts.c.room_id == part.room_id, post_parts.c.event_id == part.event_id
                )
            ).first()
            if known is not None:
                return
            conn.execute(
                sa.insert(post_parts).values(
                    link=part.link,
                    post_id=part.post_id,
                    topic_id=part.topic_id,
                    room_id=part.room_id,
                    event_id=part.event_id,
                    sender=part.sender,
                    sent_at=part.sent_at,
                    created_at=now,
                    redacted=part.redacted,
                )
            )

    def for_event(self, room_id: RoomID, event_id: EventID) -> Part | None:
        query = sa.select(post_parts).where(
            post_parts.c.room_id == room_id, post_parts.c.event_id == event_id
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _part(row)

    def of_post(self, link: LinkName, post_id: PostID) -> list[Part]:
        """Every part of a post, redacted ones included, in the order they were added."""
        query = (
            sa.select(post_parts)
            .where(post_parts.c.link == link, post_parts.c.post_id == post_id)
            .order_by(post_parts.c.id)
        )
        with self.db.read() as conn:
            return [_part(r) for r in conn.execute(query)]

    def latest_of_sender(self, link: LinkName, topic_id: TopicID, sender: UserID) -> Part | None:
        """The most recent live part ``sender`` wrote in a topic."""
        query = (
            sa.select(post_parts)
            .where(
                post_parts.c.link == link,
                post_parts.c.topic_id == topic_id,
                post_parts.c.sender == sender,
                sa.not_(post_parts.c.redacted),
            )
            .order_by(post_parts.c.id.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _part(row)

    def set_redacted(self, room_id: RoomID, event_id: EventID) -> None:
        with self.db.begin() as conn:
            conn.execute(
                sa.update(post_parts)
                .where(post_parts.c.room_id == room_id, post_parts.c.event_id == event_id)
                .values(redacted=True)
            )
