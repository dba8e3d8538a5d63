"""Topics withdrawn from a link (:mod:`bridges.relay.forum_to_chat.forum_retraction`): the
``retractions`` table."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from bridges.model import LinkName, Platform, PostID, TopicID
from bridges.store.db import Database
from bridges.store.mapping import messages
from bridges.store.reactions import Reaction, _reaction, reactions

retractions = sa.table(
    "retractions",
    sa.column("link", sa.String),
    sa.column("topic_id", sa.BigInteger),
    sa.column("reason", sa.String),
    sa.column("rule", sa.String),
    sa.column("inbox_id", sa.BigInteger),
    sa.column("at", sa.Float),
)


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """A topic withdrawn from a link: why (``moved``, ``unlisted``, ``hidden`` ...), by which
    rule, while handling which inbox event."""

    link: LinkName
    topic_id: TopicID
    reason: str
    rule: str
    inbox_id: int | None
    at: float


def _withdrawn(row: sa.Row[tuple[object, ...]]) -> Withdrawn:
    m = row._mapping
    return Withdrawn(
        link=LinkName(m["link"]),
        topic_id=TopicID(int(m["topic_id"])),
        reason=str(m["reason"]),
        rule=str(m["rule"]),
        inbox_id=None if m["inbox_id"] is None else int(m["inbox_id"]),
        at=float(m["at"]),
    )


class Retractions:
    """The ``retractions`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def withdraw(self, entry: Withdrawn) -> Withdrawn:
        """Record a withdrawal; the first one stays (a retry or a later cause changes nothing).

        Returns the record that holds.
        """
        try:
            with self.db.begin() as conn:
                known = conn.execute(
                    sa.select(retractions).where(
                        retractions.c.link == entry.link,
                        retractions.c.topic_id == entry.topic_id,
                    )
                ).first()
                if known is not None:
                    return _withdrawn(known)
                conn.execute(
                    sa.insert(retractions).values(
                        link=entry.link,
                        topic_id=entry.topic_id,
                        reason=entry.reason,
                        rule=entry.rule,
                        inbox_id=entry.inbox_id,
                        at=entry.at,
                    )
                )
        except sa.exc.IntegrityError:
            # Another worker withdrew it first (scaled out): theirs holds.
            found = self.get(entry.link, entry.topic_id)
            if found is None:
                raise
            return found
        return entry

    def get(self, link: LinkName, topic_id: TopicID) -> Withdrawn | None:
        query = sa.select(retractions).where(
            retractions.c.link == link, retractions.c.topic_id == topic_id
        )
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _withdrawn(row)

    def of_topic(self, topic_id: TopicID) -> list[Withdrawn]:
        """Every link the topic is withdrawn from."""
        query = sa.select(retractions).where(retractions.c.topic_id == topic_id)
        with self.db.read() as conn:
            return [_withdrawn(r) for r in conn.execute(query)]


def porch_reactions(db: Database, link: LinkName, post_id: PostID) -> list[Reaction]:
    """The reactions porch's ghosts made on a post's copy in a link (forum likes)."""
    query = (
        sa.select(reactions)
        .where(
            reactions.c.link == link,
            reactions.c.post_id == post_id,
            reactions.c.origin == Platform.FORUM.value,
        )
        .order_by(reactions.c.id)
    )
    with db.read() as conn:
        return [_reaction(r) for r in conn.execute(query)]


def carried_topics(db: Database, link: LinkName) -> list[TopicID]:
    """The topics with a copy from the forum still standing in the link's room."""
    query = (
        sa.select(messages.c.topic_id)
        .where(
            messages.c.link == link,
            messages.c.origin == Platform.FORUM.value,
            sa.not_(messages.c.redacted),
        )
        .distinct()
        .order_by(messages.c.topic_id)
    )
    with db.read() as conn:
        return [TopicID(int(r[0])) for r in conn.execute(query)]
