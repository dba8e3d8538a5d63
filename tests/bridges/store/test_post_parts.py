"""The parts of merged chat posts, on SQLite and PostgreSQL."""

from __future__ import annotations

from bridges.model import EventID, LinkName, PostID, RoomID, TopicID, UserID
from bridges.store.post_parts import Part, PostParts
from bridges.store.store import Store

ROOM = RoomID("!room:example.org")
DANA, ERIN = UserID("@dana:example.org"), UserID("@erin:example.org")
TOWN = LinkName("town")


def _part(event: str, post: int, sender: UserID = DANA, sent_at: float = 100.0) -> Part:
    return Part(TOWN, PostID(post), TopicID(7), ROOM, EventID(event), sender, sent_at)


def test_parts_are_found_by_event_post_and_sender(store: Store) -> None:
    parts = PostParts(store.db)
    parts.add(_part("$a", 1), now=1.0)
    parts.add(_part("$b", 1, sent_at=101.0), now=2.0)
    parts.add(_part("$c", 2, sender=ERIN), now=3.0)
    parts.add(_part("$a", 9), now=4.0)  # recorded already: ignored
    assert parts.for_event(ROOM, EventID("$a")) == _part("$a", 1)
    assert [p.event_id for p in parts.of_post(TOWN, PostID(1))] == ["$a", "$b"]
    latest = parts.latest_of_sender(TOWN, TopicID(7), DANA)
    assert latest is not None and latest.event_id == "$b" and latest.sent_at == 101.0
    parts.set_redacted(ROOM, EventID("$b"))
    latest = parts.latest_of_sender(TOWN, TopicID(7), DANA)
    assert latest is not None and latest.event_id == "$a"
    redacted = parts.for_event(ROOM, EventID("$b"))
    assert redacted is not None and redacted.redacted
    assert parts.for_event(ROOM, EventID("$nope")) is None
