"""The ``retractions`` table and porch's reactions on a post, on SQLite and PostgreSQL."""

from __future__ import annotations

from bridges.model import (
    EventID,
    ForumUsername,
    LinkName,
    Platform,
    PostID,
    RoomID,
    TopicID,
    UserID,
)
from bridges.store.mapping import Message
from bridges.store.reactions import Reaction, Reactions
from bridges.store.retractions import Retractions, Withdrawn, carried_topics, porch_reactions
from bridges.store.store import Store

TOWN = LinkName("town")


def test_the_first_withdrawal_holds(store: Store) -> None:
    records = Retractions(store.db)
    assert records.get(TOWN, TopicID(7)) is None
    first = Withdrawn(TOWN, TopicID(7), "moved", "retract-moved", 11, 100.0)
    assert records.withdraw(first) == first
    # A retry or a later cause does not rewrite why the topic went.
    later = Withdrawn(TOWN, TopicID(7), "unlisted", "retract-unlisted", 12, 200.0)
    assert records.withdraw(later) == first
    assert records.get(TOWN, TopicID(7)) == first
    assert records.get(LinkName("other"), TopicID(7)) is None
    records.withdraw(Withdrawn(LinkName("other"), TopicID(7), "hidden", "r", None, 1.0))
    assert {w.link for w in records.of_topic(TopicID(7))} == {"town", "other"}


def test_porch_reactions_are_the_forum_likes_it_showed(store: Store) -> None:
    reactions = Reactions(store.db)
    room = RoomID("!room:localhost")
    for n, origin in enumerate((Platform.FORUM, Platform.CHAT, Platform.FORUM)):
        reactions.add(
            Reaction(
                TOWN,
                PostID(5 if n < 2 else 6),
                ForumUsername(f"user{n}"),
                room,
                EventID(f"$r{n}"),
                UserID(f"@u{n}:localhost"),
                origin,
            ),
            1.0,
        )
    assert [r.event_id for r in porch_reactions(store.db, TOWN, PostID(5))] == ["$r0"]
    assert [r.event_id for r in porch_reactions(store.db, TOWN, PostID(6))] == ["$r2"]
    assert porch_reactions(store.db, LinkName("other"), PostID(5)) == []


def test_carried_topics_are_those_with_a_standing_forum_copy(store: Store) -> None:
    room = RoomID("!room:localhost")

    def message(post: int, topic: int, origin: Platform, redacted: bool = False) -> Message:
        return Message(
            TOWN,
            PostID(post),
            TopicID(topic),
            1,
            room,
            EventID(f"$e{post}"),
            UserID("@forum_alice:localhost"),
            origin,
            redacted,
        )

    for m in (
        message(1, 10, Platform.FORUM),
        message(2, 10, Platform.FORUM),
        message(3, 20, Platform.CHAT),
        message(4, 30, Platform.FORUM, redacted=True),
        message(5, 40, Platform.FORUM),
    ):
        store.mapping.add_message(m, 1.0)
    assert carried_topics(store.db, TOWN) == [10, 40]
    assert carried_topics(store.db, LinkName("other")) == []
