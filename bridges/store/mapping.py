"""Which forum topic is which Matrix thread, and which post is which event, per link."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from bridges.model import EventID, LinkName, Platform, PostID, RoomID, TopicID, UserID
from bridges.store.db import Database

threads = sa.table(
    "threads",
    sa.column("id", sa.BigInteger),
    sa.column("link", sa.String),
    sa.column("topic_id", sa.BigInteger),
    sa.column("room_id", sa.String),
    sa.column("root_event_id", sa.String),
    sa.column("root_post_id", sa.BigInteger),
    sa.column("origin", sa.String),
    sa.column("created_at", sa.Float),
)
messages = sa.table(
    "messages",
    sa.column("id", sa.BigInteger),
    sa.column("link", sa.String),
    sa.column("post_id", sa.BigInteger),
    sa.column("topic_id", sa.BigInteger),
    sa.column("post_number", sa.Integer),
    sa.column("room_id", sa.String),
    sa.column("event_id", sa.String),
    sa.column("sender", sa.String),
    sa.column("origin", sa.String),
    sa.column("created_at", sa.Float),
    sa.column("redacted", sa.Boolean),
)


@dataclass(frozen=True, slots=True)
class Thread:
    """A forum topic carried as a Matrix thread (or a thread carried as a topic)."""

    link: LinkName
    topic_id: TopicID
    room_id: RoomID
    root_event_id: EventID
    root_post_id: PostID | None
    origin: Platform


@dataclass(frozen=True, slots=True)
class Message:
    """A forum post and its Matrix event. ``origin`` is where it was first written."""

    link: LinkName
    post_id: PostID
    topic_id: TopicID
    post_number: int | None
    room_id: RoomID
    event_id: EventID
    sender: UserID
    origin: Platform
    redacted: bool


def _thread(row: sa.Row[tuple[object, ...]]) -> Thread:
    m = row._mapping
    return Thread(
        link=LinkName(m["link"]),
        topic_id=TopicID(int(m["topic_id"])),
        room_id=RoomID(m["room_id"]),
        root_event_id=EventID(m["root_event_id"]),
        root_post_id=None if m["root_post_id"] is None else PostID(int(m["root_post_id"])),
        origin=Platform(m["origin"]),
    )


def _message(row: sa.Row[tuple[object, ...]]) -> Message:
    m = row._mapping
    return Message(
        link=LinkName(m["link"]),
        post_id=PostID(int(m["post_id"])),
        topic_id=TopicID(int(m["topic_id"])),
        post_number=None if m["post_number"] is None else int(m["post_number"]),
        room_id=RoomID(m["room_id"]),
        event_id=EventID(m["event_id"]),
        sender=UserID(m["sender"]),
        origin=Platform(m["origin"]),
        redacted=bool(m["redacted"]),
    )


class Mapping:
    """The ``threads`` and ``messages`` tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- threads ---------------------------------------------------------------------------

    def record_root(self, thread: Thread, root: Message, now: float) -> None:
        """Record a new thread and its root message together (one transaction)."""
        with self.db.begin() as conn:
            self._insert_thread(conn, thread, now)
            self._insert_message(conn, root, now)

    def add_thread(self, thread: Thread, now: float) -> None:
        with self.db.begin() as conn:
            self._insert_thread(conn, thread, now)

    @staticmethod
    def _insert_thread(conn: sa.Connection, thread: Thread, now: float) -> None:
        conn.execute(
            sa.insert(threads).values(
                link=thread.link,
                topic_id=thread.topic_id,
                room_id=thread.room_id,
                root_event_id=thread.root_event_id,
                root_post_id=thread.root_post_id,
                origin=thread.origin.value,
                created_at=now,
            )
        )

    def thread_for_topic(self, link: LinkName, topic_id: TopicID) -> Thread | None:
        query = sa.select(threads).where(threads.c.link == link, threads.c.topic_id == topic_id)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _thread(row)

    def thread_for_root(self, room_id: RoomID, root_event_id: EventID) -> Thread | None:
        query = sa.select(threads).where(
            threads.c.room_id == room_id, threads.c.root_event_id == root_event_id
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _thread(row)

    def threads_for_topic(self, topic_id: TopicID) -> list[Thread]:
        """Every link's thread for a topic (a topic may be carried into several rooms)."""
        query = sa.select(threads).where(threads.c.topic_id == topic_id).order_by(threads.c.id)
        with self.db.read() as conn:
            return [_thread(r) for r in conn.execute(query)]

    # --- messages --------------------------------------------------------------------------

    def add_message(self, message: Message, now: float) -> None:
        with self.db.begin() as conn:
            self._insert_message(conn, message, now)

    def replace_event(self, link: LinkName, post_id: PostID, event_id: EventID) -> None:
        """Point a post's copy at a new event (it was carried again after a recovery)."""
        with self.db.begin() as conn:
            conn.execute(
                sa.update(messages)
                .where(messages.c.link == link, messages.c.post_id == post_id)
                .values(event_id=event_id, redacted=False)
            )

    def replace_root(self, link: LinkName, topic_id: TopicID, root_event_id: EventID) -> None:
        """Point a thread at a new root event (its first post was carried again after a
        recovery; the old root is redacted)."""
        with self.db.begin() as conn:
            conn.execute(
                sa.update(threads)
                .where(threads.c.link == link, threads.c.topic_id == topic_id)
                .values(root_event_id=root_event_id)
            )

    @staticmethod
    def _insert_message(conn: sa.Connection, message: Message, now: float) -> None:
        conn.execute(
            sa.insert(messages).values(
                link=message.link,
                post_id=message.post_id,
                topic_id=message.topic_id,
                post_number=message.post_number,
                room_id=message.room_id,
                event_id=message.event_id,
                sender=message.sender,
                origin=message.origin.value,
                created_at=now,
                redacted=message.redacted,
            )
        )

    def message_for_post(self, link: LinkName, post_id: PostID) -> Message | None:
        query = sa.select(messages).where(messages.c.link == link, messages.c.post_id == post_id)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _message(row)

    def messages_for_post(self, post_id: PostID) -> list[Message]:
        """Every link's copy of a post."""
        query = sa.select(messages).where(messages.c.post_id == post_id).order_by(messages.c.id)
        with self.db.read() as conn:
            return [_message(r) for r in conn.execute(query)]

    def message_for_post_number(
        self, link: LinkName, topic_id: TopicID, post_number: int
    ) -> Message | None:
        query = sa.select(messages).where(
            messages.c.link == link,
            messages.c.topic_id == topic_id,
            messages.c.post_number == post_number,
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _message(row)

    def message_for_event(self, room_id: RoomID, event_id: EventID) -> Message | None:
        query = sa.select(messages).where(
            messages.c.room_id == room_id, messages.c.event_id == event_id
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _message(row)

    def latest_in_thread(self, link: LinkName, topic_id: TopicID) -> Message | None:
        """The most recent carried message of a topic (the thread fallback's reply target)."""
        query = (
            sa.select(messages)
            .where(messages.c.link == link, messages.c.topic_id == topic_id)
            .order_by(messages.c.id.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _message(row)

    def set_redacted(self, room_id: RoomID, event_id: EventID, redacted: bool = True) -> None:
        with self.db.begin() as conn:
            conn.execute(
                sa.update(messages)
                .where(messages.c.room_id == room_id, messages.c.event_id == event_id)
                .values(redacted=redacted)
            )

    def messages_in_thread(self, link: LinkName, topic_id: TopicID) -> list[Message]:
        query = (
            sa.select(messages)
            .where(messages.c.link == link, messages.c.topic_id == topic_id)
            .order_by(messages.c.id)
        )
        with self.db.read() as conn:
            return [_message(r) for r in conn.execute(query)]
