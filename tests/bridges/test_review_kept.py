"""Held items keep what they were judged on and where they come from, on SQLite and
PostgreSQL (migration 14): an approval posts the kept text, and the moderators room is quoted
only what its tier may read."""

from __future__ import annotations

from bridges.model import EventKind
from bridges.store.review import NewHeld
from bridges.store.store import Store


def _held(kept: str | None, tier: str | None) -> NewHeld:
    return NewHeld(
        inbox_id=9,
        link="town",
        subject="event:$a",
        direction="chat-to-forum",
        kind=EventKind.CHAT_MESSAGE.value,
        payload="{}",
        author="@dana:example.org",
        preview="Ask Eve for **raffle** tickets",
        rule="watched_words:require_approval",
        policy_version="w1",
        reason="contains a word that requires approval: 'raffle'",
        kept=kept,
        source_tier=tier,
    )


def test_a_held_item_keeps_its_text_and_source_tier(store: Store) -> None:
    kept = '{"text": "Ask Eve for **raffle** tickets", "reading": "x", "media": null}'
    item = store.review.hold(_held(kept, "private"), 10.0)
    assert (item.kept, item.source_tier) == (kept, "private")
    found = store.review.find(9, "town", "event:$a")
    assert found == item
    assert store.review.find(9, "town", "event:$b") is None
    assert store.review.find(9, "other", "event:$a") is None


def test_older_items_have_neither(store: Store) -> None:
    item = store.review.hold(_held(None, None), 10.0)
    assert (item.kept, item.source_tier) == (None, None)
