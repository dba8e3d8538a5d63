"""The watched-word cache and the flood counts, on SQLite and PostgreSQL."""

from __future__ import annotations

from bridges.model import EventID, LinkName, Platform, PostID, RoomID, TopicID, UserID
from bridges.store.mapping import Message
from bridges.store.moderation_words import ModerationRecords
from bridges.store.store import Store
from policies.watched_words import WatchedWord, WordAction, WordList

DANA = UserID("@dana:x")


def test_a_list_never_read_is_unknown_and_the_latest_read_wins(store: Store) -> None:
    records = ModerationRecords(store.db)
    assert records.word_list() is None
    first = WordList((WatchedWord("liquorice", WordAction.BLOCK),), False)
    records.save_word_list(first, 10.0)
    second = WordList(
        (
            WatchedWord("café", WordAction.CENSOR, case_sensitive=True),
            WatchedWord("faq", WordAction.LINK, "https://example.org/faq"),
        ),
        True,
    )
    records.save_word_list(second, 20.0)
    stored = records.word_list()
    assert stored is not None
    assert stored.words == second
    assert stored.fetched_at == 20.0


def test_flood_counts_each_event_once_within_the_window(store: Store) -> None:
    records = ModerationRecords(store.db)
    assert records.count_and_record(DANA, 1, 100.0, 60) == 0
    assert records.count_and_record(DANA, 2, 110.0, 60) == 1
    # A retried event is not counted twice.
    assert records.count_and_record(DANA, 2, 110.0, 60) == 1
    assert records.count_and_record(DANA, 3, 120.0, 60) == 2
    # Messages older than the window fall out; someone else's never count.
    assert records.count_and_record(DANA, 4, 175.0, 60) == 1  # only the one at 120
    assert records.count_and_record(UserID("@eve:x"), 5, 175.0, 60) == 0


def test_a_sender_is_new_until_a_message_of_theirs_was_carried(store: Store) -> None:
    records = ModerationRecords(store.db)
    assert not records.carried_before(DANA)
    copy = Message(
        LinkName("town"),
        PostID(7),
        TopicID(1),
        2,
        RoomID("!room"),
        EventID("$e"),
        DANA,
        Platform.CHAT,
        False,
    )
    store.mapping.add_message(copy, 1.0)
    assert records.carried_before(DANA)
    assert not records.carried_before(UserID("@eve:x"))
