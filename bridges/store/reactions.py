"""Matrix reactions and the forum likes they stand for.

One row per reaction event. ``origin`` says where it started: ``matrix`` (a linked user's
reaction that porch turned into a forum like) or ``discourse`` (a forum like that porch shows as
a reaction from the liker's ghost). A like is ``(link, post, forum user)``; a user may have more
than one reaction standing for the same like (👍 and ❤️), and the like goes only with the last.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from bridges.model import EventID, ForumUsername, LinkName, Platform, PostID, RoomID, UserID
from bridges.store.db import Database

reactions = sa.table(
    "reactions",
    sa.column("id", sa.BigInteger),
    sa.column("link", sa.String),
    sa.column("post_id", sa.BigInteger),
    sa.column("forum_username", sa.String),
    sa.column("room_id", sa.String),
    sa.column("event_id", sa.String),
    sa.column("sender", sa.String),
    sa.column("origin", sa.String),
    sa.column("created_at", sa.Float),
)


@dataclass(frozen=True, slots=True)
class Reaction:
    """A reaction event and the like it stands for."""

    link: LinkName
    post_id: PostID
    forum_username: ForumUsername
    room_id: RoomID
    event_id: EventID
    sender: UserID
    origin: Platform


def _reaction(row: sa.Row[tuple[object, ...]]) -> Reaction:
    m = row._mapping
    return Reaction(
        link=LinkName(m["link"]),
        post_id=PostID(int(m["post_id"])),
        forum_username=ForumUsername(m["forum_username"]),
        room_id=RoomID(m["room_id"]),
        event_id=EventID(m["event_id"]),
        sender=UserID(m["sender"]),
        origin=Platform(m["origin"]),
    )


class Reactions:
    """The ``reactions`` table. Forum usernames are kept lowercased (they are unique so)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, reaction: Reaction, now: float) -> bool:
        """Record a reaction; False if that event is recorded already."""
        with self.db.begin() as conn:
            exists = conn.execute(
                sa.select(reactions.c.id).where(
                    reactions.c.room_id == reaction.room_id,
                    reactions.c.event_id == reaction.event_id,
                )
            ).first()
            if exists is not None:
                return False
            conn.execute(
                sa.insert(reactions).values(
                    link=reaction.link,
                    post_id=reaction.post_id,
                    forum_username=reaction.forum_username.lower(),
                    room_id=reaction.room_id,
                    event_id=reaction.event_id,
                    sender=reaction.sender,
                    origin=reaction.origin.value,
                    created_at=now,
                )
            )
        return True

    def for_event(self, room_id: RoomID, event_id: EventID) -> Reaction | None:
        query = sa.select(reactions).where(
            reactions.c.room_id == room_id, reactions.c.event_id == event_id
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _reaction(row)

    def for_like(
        self, link: LinkName, post_id: PostID, forum_username: ForumUsername
    ) -> list[Reaction]:
        """Every reaction standing for ``forum_username``'s like of the post in this link."""
        query = (
            sa.select(reactions)
            .where(
                reactions.c.link == link,
                reactions.c.post_id == post_id,
                reactions.c.forum_username == forum_username.lower(),
            )
            .order_by(reactions.c.id)
        )
        with self.db.read() as conn:
            return [_reaction(r) for r in conn.execute(query)]

    def remove(self, room_id: RoomID, event_id: EventID) -> None:
        with self.db.begin() as conn:
            conn.execute(
                sa.delete(reactions).where(
                    reactions.c.room_id == room_id, reactions.c.event_id == event_id
                )
            )
