from __future__ import annotations

from bridges.model import EventKind, Platform
from bridges.store.inbox import DEAD, DONE, NewEvent
from bridges.store.store import Store


def event(conversation: str, *keys: str) -> NewEvent:
    return NewEvent(Platform.FORUM, EventKind.POST_CREATED, conversation, "{}", keys)


def test_duplicate_keys_are_recorded_once(store: Store) -> None:
    first = store.inbox.append([event("t1", "delivery:1", "post:5:v1")], now=1.0)
    again = store.inbox.append([event("t1", "delivery:2", "post:5:v1")], now=2.0)
    assert first[0] is not None
    assert again == [None]
    assert len(store.inbox.rows()) == 1


def test_transaction_is_recorded_once(store: Store) -> None:
    assert store.inbox.append_transaction("7", [event("r", "ev:a"), event("r", "ev:b")], 1.0) == 2
    assert store.inbox.append_transaction("7", [event("r", "ev:a"), event("r", "ev:b")], 2.0) == 0
    assert [r.conversation for r in store.inbox.rows()] == ["r", "r"]


def test_a_reused_transaction_id_records_its_new_events(store: Store) -> None:
    # Deduplication is by event, never by transaction id (homeservers reuse ids).
    assert store.inbox.append_transaction("1", [event("r", "ev:a")], 1.0) == 1
    assert store.inbox.append_transaction("1", [event("r", "ev:a"), event("r", "ev:c")], 2.0) == 1
    assert [r.received_at for r in store.inbox.rows()] == [1.0, 2.0]


def test_claim_takes_only_the_head_of_each_conversation(store: Store) -> None:
    store.inbox.append([event("a", "1"), event("a", "2"), event("b", "3")], now=0.0)
    claimed = store.inbox.claim("w1", now=1.0, lease=30.0)
    assert [(r.conversation, r.payload) for r in claimed] == [("a", "{}"), ("b", "{}")]
    assert claimed[0].id < claimed[1].id
    # Claimed rows are not handed to a second worker while the lease holds.
    assert store.inbox.claim("w2", now=2.0, lease=30.0) == []
    # The second event of "a" becomes claimable only when the first is finished.
    store.inbox.complete(claimed[0].id, now=3.0)
    after = store.inbox.claim("w2", now=3.0, lease=30.0)
    assert [r.conversation for r in after] == ["a"]


def test_lapsed_claim_is_taken_up_again(store: Store) -> None:
    store.inbox.append([event("a", "1")], now=0.0)
    [row] = store.inbox.claim("w1", now=1.0, lease=5.0)
    assert store.inbox.claim("w2", now=7.0, lease=5.0)[0].id == row.id


def test_retry_later_keeps_order_and_counts_attempts(store: Store) -> None:
    store.inbox.append([event("a", "1"), event("a", "2")], now=0.0)
    [head] = store.inbox.claim("w", now=1.0, lease=30.0)
    store.inbox.retry_later(head.id, at=10.0, error="boom")
    # Not due yet, and the later event of the same conversation must wait behind it.
    assert store.inbox.claim("w", now=5.0, lease=30.0) == []
    [again] = store.inbox.claim("w", now=10.0, lease=30.0)
    assert again.id == head.id
    assert again.attempts == 1
    assert again.last_error == "boom"


def test_dead_letters_are_counted_and_can_be_requeued(store: Store) -> None:
    store.inbox.append([event("a", "1"), event("a", "2")], now=0.0)
    [head] = store.inbox.claim("w", now=1.0, lease=30.0)
    store.inbox.park(head.id, now=2.0, error="forum said 422")
    [stats] = store.inbox.stats()
    assert (stats.conversation, stats.pending, stats.dead) == ("a", 1, 1)
    assert store.inbox.get(head.id).status == DEAD  # type: ignore[union-attr]
    # A parked event no longer holds up its conversation.
    [nxt] = store.inbox.claim("w", now=3.0, lease=30.0)
    store.inbox.complete(nxt.id, now=4.0)
    assert store.inbox.get(nxt.id).status == DONE  # type: ignore[union-attr]
    assert store.inbox.requeue_dead(now=5.0) == 1
    assert [r.id for r in store.inbox.claim("w", now=5.0, lease=30.0)] == [head.id]


def test_orphaned_claims_of_dead_processes_are_released(store: Store) -> None:
    store.inbox.append([event("a", "1")], now=0.0)
    store.inbox.claim("thishost:999999999", now=1.0, lease=300.0)
    assert store.inbox.release_orphaned("thishost:1") == 1
    assert len(store.inbox.claim("thishost:1", now=2.0, lease=30.0)) == 1
