from __future__ import annotations

import pytest
import sqlalchemy as sa

from bridges.model import (
    ContentURI,
    EventID,
    ForumUsername,
    LinkName,
    Platform,
    PostID,
    RoomID,
    TopicID,
    UserID,
)
from bridges.store.audit import AuditEntry
from bridges.store.identities import Identity
from bridges.store.mapping import Message, Thread
from bridges.store.profiles import Ghost
from bridges.store.store import Store

TOWN = LinkName("town")
ROOM = RoomID("!room")


def message(post: int, event: str, number: int, origin: Platform = Platform.FORUM) -> Message:
    return Message(
        TOWN, PostID(post), TopicID(7), number, ROOM, EventID(event), UserID("@u:x"), origin, False
    )


def test_a_thread_and_its_messages_are_found_from_either_side(store: Store) -> None:
    thread = Thread(TOWN, TopicID(7), ROOM, EventID("$root"), PostID(70), Platform.FORUM)
    store.mapping.record_root(thread, message(70, "$root", 1), now=1.0)
    store.mapping.add_message(message(71, "$reply", 2), now=2.0)
    assert store.mapping.thread_for_topic(TOWN, TopicID(7)) == thread
    assert store.mapping.thread_for_root(ROOM, EventID("$root")) == thread
    assert store.mapping.message_for_event(ROOM, EventID("$reply")).post_id == 71  # type: ignore[union-attr]
    assert store.mapping.message_for_post_number(TOWN, TopicID(7), 2).event_id == "$reply"  # type: ignore[union-attr]
    assert store.mapping.latest_in_thread(TOWN, TopicID(7)).event_id == "$reply"  # type: ignore[union-attr]
    store.mapping.set_redacted(ROOM, EventID("$reply"))
    assert store.mapping.message_for_post(TOWN, PostID(71)).redacted  # type: ignore[union-attr]
    store.mapping.replace_event(TOWN, PostID(71), EventID("$again"))
    again = store.mapping.message_for_post(TOWN, PostID(71))
    assert again is not None and again.event_id == "$again" and not again.redacted


def test_a_post_is_mapped_once_per_link(store: Store) -> None:
    store.mapping.add_message(message(80, "$a", 1), now=1.0)
    with pytest.raises(sa.exc.IntegrityError):
        store.mapping.add_message(message(80, "$b", 1), now=2.0)


def test_a_root_is_recorded_whole_or_not_at_all(store: Store) -> None:
    store.mapping.add_message(message(90, "$taken", 1), now=1.0)
    thread = Thread(TOWN, TopicID(9), ROOM, EventID("$taken"), PostID(91), Platform.FORUM)
    with pytest.raises(sa.exc.IntegrityError):
        store.mapping.record_root(thread, message(91, "$taken", 1), now=2.0)
    assert store.mapping.thread_for_topic(TOWN, TopicID(9)) is None


def test_identities_link_one_to_one(store: Store) -> None:
    alice = Identity(UserID("@alice:x"), ForumUsername("Alice"), 3, "discourse-connect", 1.0)
    store.identities.link(alice)
    assert store.identities.by_forum_username(ForumUsername("alice")) == alice
    # Linking the forum account to another Matrix user replaces the first link.
    other = Identity(UserID("@al:x"), ForumUsername("Alice"), 3, "discourse-connect", 2.0)
    store.identities.link(other)
    assert store.identities.by_matrix_user(UserID("@alice:x")) is None
    assert store.identities.unlink(UserID("@al:x"))
    assert store.identities.by_forum_username(ForumUsername("alice")) is None


def test_audit_entries_come_back_in_order(store: Store) -> None:
    for n, outcome in enumerate(["carried", "refused"]):
        store.audit.record(
            AuditEntry(float(n), 5, "town", outcome, "direction", "builtin-1", "bob")
        )
    assert [e.outcome for e in store.audit.entries(inbox_id=5)] == ["carried", "refused"]


def test_ghost_profiles_and_media_are_cached(store: Store) -> None:
    ghost = Ghost(UserID("@forum_a:x"), "A (forum)", "http://f/a.png", ContentURI("mxc://x/a"))
    store.profiles.save_ghost(ghost, now=1.0)
    store.profiles.save_ghost(ghost, now=2.0)
    assert store.profiles.ghost(UserID("@forum_a:x")) == ghost
    store.profiles.save_media("http://f/a.png", ContentURI("mxc://x/a"), now=1.0)
    store.profiles.save_media("http://f/a.png", ContentURI("mxc://x/other"), now=2.0)
    assert store.profiles.media_for("http://f/a.png") == "mxc://x/a"
