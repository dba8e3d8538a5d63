"""Watching's tables on SQLite and PostgreSQL: once-only activity, alerts, digests, sign-ins."""

from __future__ import annotations

from bridges.store.store import Store
from bridges.store.watch_records import Activity, WatchRecords


def test_activity_counts_once_per_inbox_event(store: Store) -> None:
    records = WatchRecords(store.db)
    item = Activity("housing", 7, 100.0, "topic:3", "alice", ("rent",), title="Rents")
    assert records.record(item)
    assert not records.record(item)
    assert records.record(Activity("other", 7, 100.0, "topic:3", "alice"))
    seen = records.activity("housing")
    assert [(a.thread, a.terms, a.title) for a in seen] == [("topic:3", ("rent",), "Rents")]
    assert records.activity("housing", since=101.0) == []


def test_an_alert_is_raised_once_per_thread_watch_and_kind(store: Store) -> None:
    records = WatchRecords(store.db)
    first = records.raise_alert("housing", "topic:3", "match", {"title": "Rents"}, 10.0, 10.0)
    assert first is not None
    assert records.raise_alert("housing", "topic:3", "match", {}, 11.0, 11.0) is None
    assert records.raise_alert("housing", "topic:3", "trending", {}, 12.0, 50.0) is not None
    due = records.due_alerts(20.0)
    assert [(a.kind, a.body) for a in due] == [("match", {"title": "Rents"})]
    records.alert_sent(first, "room", 21.0)
    records.alert_failed(first, "smtp down", 30.0)
    assert records.due_alerts(25.0) == []
    (again,) = records.due_alerts(30.0)
    assert again.sent["room"] == 21.0 and again.sent["email"] is None and again.attempts == 1
    records.alert_done(first, 31.0)
    assert [a.kind for a in records.due_alerts(100.0)] == ["trending"]
    folded = records.raise_alert("housing", "topic:4", "match", {}, 40.0, 80.0, folded=True)
    assert folded is not None
    assert [a.kind for a in records.due_alerts(100.0)] == ["trending"]
    assert [a.folded for a in records.alerts("housing", since=35.0)] == [True]


def test_digests_and_sign_ins(store: Store) -> None:
    records = WatchRecords(store.db)
    assert records.digest_sent("housing", "2026-03-03") is None
    assert records.claim_digest("housing", "2026-03-03", 1000.0, 60.0)
    assert not records.claim_digest("housing", "2026-03-03", 1030.0, 60.0)
    assert records.claim_digest("housing", "2026-03-03", 1061.0, 60.0)
    records.mark_digest("housing", "2026-03-03", "room", 3.0)
    assert records.digest_sent("housing", "2026-03-03") == {"room": 3.0, "email": None}

    assert records.spend_nonce("n1", 100.0, 50.0)
    assert not records.spend_nonce("n1", 100.0, 60.0)
    assert records.spend_nonce("n2", 100.0, 50.0)
    # Expired ones are dropped as others are spent: the table does not grow.
    assert records.spend_nonce("n3", 300.0, 150.0)
    assert records.nonce_count() == 1
    records.open_session("tok", "alice", ["policy-team", "everyone"], 100.0)
    assert records.session("tok", 50.0) == ("alice", frozenset({"policy-team", "everyone"}))
    assert records.session("tok", 150.0) is None
    assert records.session("other", 50.0) is None
    records.close_session("tok")
    assert records.session("tok", 50.0) is None


def test_one_sender_at_a_time_claims_an_alert(store: Store) -> None:
    records = WatchRecords(store.db)
    records.raise_alert("housing", "topic:3", "match", {}, 10.0, 10.0)
    (due,) = records.due_alerts(20.0)
    assert records.claim_alert(due, 20.0, 60.0)
    assert not records.claim_alert(due, 20.0, 60.0)
    assert records.due_alerts(50.0) == []
    # The sender died: after the lease, the alert is due and can be claimed again.
    (again,) = records.due_alerts(81.0)
    assert records.claim_alert(again, 81.0, 60.0)


def test_a_moved_topic_takes_its_activity_along_and_a_deleted_one_is_forgotten(
    store: Store,
) -> None:
    records = WatchRecords(store.db)
    records.record(Activity("housing", 1, 1.0, "topic:3", "a", title="Old", topic_id=3))
    records.record(Activity("other", 2, 1.0, "topic:3", "a", title="Old", topic_id=3))
    records.record(Activity("housing", 3, 1.0, "topic:4", "a", title="Keep", topic_id=4))
    assert records.topic_changed(3, 11, "New") == 2
    assert {(a.category_id, a.title) for a in records.activity("other")} == {(11, "New")}
    records.forget_topic(3)
    assert [a.topic_id for a in records.activity("housing")] == [4]
    assert records.activity("other") == []
