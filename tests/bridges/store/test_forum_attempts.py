"""Forum attempts (m0013): written before each post creation, on SQLite and PostgreSQL."""

from __future__ import annotations

from bridges.model import EventID, TopicID
from bridges.relay.chat_to_forum.forum_once import digest, distinct
from bridges.store.forum_attempts import ForumAttempts
from bridges.store.store import Store


def test_an_attempt_keeps_its_first_time_and_its_latest_text(store: Store) -> None:
    attempts = ForumAttempts(store.db)
    assert attempts.get(EventID("$a")) is None
    attempts.start(EventID("$a"), "Chat-Relay", TopicID(7), digest("first text"), now=10.0)
    attempts.start(EventID("$a"), "chat-relay", TopicID(7), digest("second text"), now=20.0)
    got = attempts.get(EventID("$a"))
    assert got is not None
    assert (got.username, got.topic_id, got.started_at) == ("chat-relay", 7, 10.0)
    assert got.raw_digest == digest("second text")


def test_a_forgotten_attempt_is_gone(store: Store) -> None:
    attempts = ForumAttempts(store.db)
    attempts.start(EventID("$a"), "alice", TopicID(1), digest("ok"), now=1.0)
    attempts.forget(EventID("$a"))
    assert attempts.get(EventID("$a")) is None
    assert not attempts.repeated("alice", digest("ok"), since=0.0, other_than=EventID("$b"))


def test_a_repeated_text_is_found_for_the_same_account_only(store: Store) -> None:
    attempts = ForumAttempts(store.db)
    attempts.start(EventID("$a"), "alice", TopicID(1), digest("ok"), now=100.0)
    # The same event is not a repeat of itself; another account's text is not either.
    assert not attempts.repeated("alice", digest("ok"), since=0.0, other_than=EventID("$a"))
    assert attempts.repeated("Alice", digest("ok"), since=0.0, other_than=EventID("$b"))
    assert not attempts.repeated("bob", digest("ok"), since=0.0, other_than=EventID("$b"))
    assert not attempts.repeated("alice", digest("ok"), since=101.0, other_than=EventID("$b"))


def test_digests_ignore_whitespace_and_marks_differ_per_event() -> None:
    assert digest("ok  then\n") == digest("ok then")
    a, b = distinct("ok", EventID("$a")), distinct("ok", EventID("$b"))
    assert a != b and a == distinct("ok", EventID("$a"))
    assert a.startswith("ok\n\n<!-- porch:") and a.endswith(" -->")
    assert "$a" not in a  # the mark names nothing
