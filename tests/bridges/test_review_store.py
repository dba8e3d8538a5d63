"""The review queue's tables on SQLite and PostgreSQL: one item per crossing, one decision per
item, each decision recorded with its audit entry and inbox event or not at all."""

from __future__ import annotations

import threading

import pytest

from bridges import codec
from bridges.model import EventKind, ReviewDecided
from bridges.review.desk import decide, decision_entry, decision_event
from bridges.store.review import APPROVED, PENDING, REJECTED, ForumQueued, NewHeld
from bridges.store.store import Store


def held(inbox_id: int = 7, subject: str = "post:11") -> NewHeld:
    return NewHeld(
        inbox_id=inbox_id,
        link="town",
        subject=subject,
        direction="forum-to-chat",
        kind=EventKind.POST_CREATED.value,
        payload="{}",
        author="alice",
        preview="A bench by the library",
        rule="policy:held/forum-to-chat",
        policy_version="v1",
        reason="the policy holds it for approval",
    )


def test_a_crossing_is_queued_once(store: Store) -> None:
    first = store.review.hold(held(), 100.0)
    again = store.review.hold(held(), 200.0)
    other = store.review.hold(held(subject="post:12"), 300.0)
    assert first == again
    assert (first.state, first.created_at, first.preview) == (
        PENDING,
        100.0,
        "A bench by the library",
    )
    assert other.id != first.id
    assert [i.id for i in store.review.items()] == [first.id, other.id]


def test_a_decision_comes_with_its_audit_entry_and_inbox_event(store: Store) -> None:
    item = store.review.hold(held(), 100.0)
    decided = decide(store.review, item, REJECTED, "@mona:x", 150.0, "spam")
    assert decided is not None
    assert (decided.state, decided.decided_by, decided.decided_at, decided.decision_note) == (
        REJECTED,
        "@mona:x",
        150.0,
        "spam",
    )
    (entry,) = store.audit.entries()
    assert (entry.outcome, entry.actor, entry.rule, entry.inbox_id, entry.detail) == (
        "rejected",
        "@mona:x",
        "policy:held/forum-to-chat",
        7,
        f"review #{item.id}: spam",
    )
    (row,) = store.inbox.rows()
    assert row.kind is EventKind.REVIEW_DECIDED
    assert codec.decode(row.kind, row.payload) == ReviewDecided(item.id, REJECTED, "@mona:x")
    assert store.review.items() == []
    assert [i.id for i in store.review.items(REJECTED)] == [item.id]


def test_a_decided_item_cannot_be_decided_again(store: Store) -> None:
    item = store.review.hold(held(), 100.0)
    assert decide(store.review, item, APPROVED, "@mona:x", 150.0) is not None
    assert decide(store.review, item, REJECTED, "@olaf:x", 160.0) is None
    assert decide(store.review, item, APPROVED, "@mona:x", 170.0) is None
    latest = store.review.get(item.id)
    assert latest is not None and (latest.state, latest.decided_by) == (APPROVED, "@mona:x")
    assert len(store.audit.entries()) == 1 and len(store.inbox.rows()) == 1


def test_two_moderators_deciding_at_once_make_one_decision(store: Store) -> None:
    item = store.review.hold(held(), 100.0)
    results: list[object] = []
    barrier = threading.Barrier(4)

    def moderator(n: int) -> None:
        barrier.wait()
        state = APPROVED if n % 2 else REJECTED
        results.append(decide(store.review, item, state, f"@m{n}:x", 150.0 + n))

    threads = [threading.Thread(target=moderator, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r is not None for r in results) == 1
    assert len(store.audit.entries()) == 1 and len(store.inbox.rows()) == 1


def test_an_unknown_state_is_not_a_decision(store: Store) -> None:
    item = store.review.hold(held(), 100.0)
    with pytest.raises(ValueError, match="approved or rejected"):
        store.review.decide(
            item.id,
            PENDING,
            "@m:x",
            1.0,
            entry=decision_entry(item, PENDING, "@m:x", 1.0, None),
            event=decision_event(item, PENDING, "@m:x"),
        )


def test_the_notice_finds_its_item(store: Store) -> None:
    item = store.review.hold(held(), 100.0)
    assert store.review.by_notice("$notice") is None
    store.review.set_notice(item.id, "$notice")
    found = store.review.by_notice("$notice")
    assert found is not None and found.id == item.id


def test_followed_forum_posts_settle_once(store: Store) -> None:
    queued = ForumQueued(
        reviewable_id=42,
        inbox_id=3,
        link="town",
        room_id="!r:x",
        event_id="$e",
        sender="@dana:x",
        thread_root="$root",
        topic_id=9,
        username="dana",
        raw="Yes please",
        created_at=1.0,
    )
    store.review.follow(queued)
    store.review.follow(queued)
    assert store.review.queued(42) == queued
    assert [q.reviewable_id for q in store.review.queued_items((PENDING,))] == [42]
    assert store.review.settle_queued(42, APPROVED, 5.0, 77) is True
    assert store.review.settle_queued(42, REJECTED, 6.0) is False
    settled = store.review.queued(42)
    assert settled is not None and (settled.state, settled.post_id) == (APPROVED, 77)
    assert store.review.queued_items((PENDING,)) == []
