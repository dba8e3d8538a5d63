"""Retention (``store.retention``, ``porch prune``) and the decision counters, on SQLite and
PostgreSQL: old text and old records go, nothing porch still needs does, and a metrics scrape
reads only the newest audit entries."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from bridges.model import EventID, EventKind, Platform, TopicID
from bridges.store.audit import SETTLE_SECONDS, AuditEntry, DecisionTally
from bridges.store.forum_attempts import ForumAttempts, forum_attempts
from bridges.store.inbox import NewEvent
from bridges.store.retention import DAY, Pruner, RetentionConfig, prune
from bridges.store.store import Store
from bridges.store.watch_records import (
    dashboard_nonces,
    dashboard_sessions,
    watch_activity,
    watch_alerts,
)
from tests.rig.store import sqlite_url
from tests.webhooks.configs import config_data, make_config
from webhooks.config import ConfigError, parse_config

T0 = 1_700_000_000.0
DEFAULTS = RetentionConfig()


def event(n: int) -> NewEvent:
    return NewEvent(
        source=Platform.CHAT,
        kind=EventKind.CHAT_MESSAGE,
        conversation="matrix:room:!r:localhost",
        payload=f'{{"secret text": "message {n}"}}',
        keys=(f"matrix:event:$e{n}",),
    )


def payloads(store: Store) -> dict[int, str]:
    return {row.id: row.payload for row in store.inbox.rows()}


def test_finished_inbox_text_goes_after_inbox_days_rows_and_keys_stay(store: Store) -> None:
    old_done, old_dead, old_pending, new_done = store.inbox.append(
        [event(n) for n in range(4)], T0
    )
    assert None not in (old_done, old_dead, old_pending, new_done)
    assert old_done and old_dead and old_pending and new_done
    store.inbox.complete(old_done, T0 + 1)
    store.inbox.park(old_dead, T0 + 1, "gave up")
    store.inbox.complete(new_done, T0 + 6 * DAY)
    now = T0 + 8 * DAY
    before = payloads(store)

    dry = prune(store.db, DEFAULTS, now, dry_run=True)
    assert dry.inbox_payloads == 1
    assert payloads(store) == before, "a dry run changes nothing"

    assert prune(store.db, DEFAULTS, now).inbox_payloads == 1
    after = payloads(store)
    assert after[old_done] == ""
    # A pending event and a dead letter still have work to do; the recent one is in its time.
    for kept in (old_dead, old_pending, new_done):
        assert after[kept] == before[kept]
    # The row and its key stay: a redelivery of the pruned event is still a duplicate.
    assert store.inbox.append([event(0)], now) == [None]
    assert prune(store.db, DEFAULTS, now).inbox_payloads == 0, "once is enough"


def test_old_forum_attempts_go_unless_an_unfinished_event_may_need_them(store: Store) -> None:
    attempts = ForumAttempts(store.db)
    for n, at in enumerate((T0, T0 + 1 * DAY, T0 + 9 * DAY)):
        attempts.start(EventID(f"$a{n}"), "ann", TopicID(1), f"d{n}", at)

    def left() -> list[str]:
        with store.db.read() as conn:
            query = sa.select(forum_attempts.c.event_id).order_by(forum_attempts.c.event_id)
            return list(conn.execute(query).scalars())

    # A dead letter received half a day after the first attempt: `porch retry` may put it
    # back, and its own attempt (any one started after it arrived) must still be found.
    (dead,) = store.inbox.append([event(0)], T0 + 0.5 * DAY)
    assert dead is not None
    store.inbox.park(dead, T0 + DAY, "gave up")
    now = T0 + 10 * DAY
    assert prune(store.db, DEFAULTS, now, dry_run=True).forum_attempts == 1
    assert prune(store.db, DEFAULTS, now).forum_attempts == 1
    assert left() == ["$a1", "$a2"]
    # Once it is done, attempts past inbox_days go; the recent one stays.
    store.inbox.complete(dead, now)
    assert prune(store.db, DEFAULTS, now).forum_attempts == 1
    assert left() == ["$a2"]


def test_old_audit_entries_go_after_audit_days(store: Store) -> None:
    for at in (T0, T0 + 1, T0 + 300 * DAY):
        store.audit.record(AuditEntry(at, None, "town", "carried", "direction", "b-1", "ann"))
    now = T0 + 366 * DAY
    assert prune(store.db, DEFAULTS, now, dry_run=True).audit_entries == 2
    assert len(store.audit.entries()) == 3
    assert prune(store.db, DEFAULTS, now).audit_entries == 2
    assert [e.at for e in store.audit.entries()] == [T0 + 300 * DAY]
    forever = RetentionConfig(audit_days=0)
    assert prune(store.db, forever, T0 + 9999 * DAY).audit_entries == 0


def _watch_rows(store: Store) -> None:
    with store.db.begin() as conn:
        for inbox_id, at in enumerate((T0, T0 + 80 * DAY)):
            conn.execute(
                sa.insert(watch_activity).values(
                    watch="housing",
                    inbox_id=inbox_id,
                    at=at,
                    thread="t",
                    author="ann",
                    terms="[]",
                )
            )
        for raised, done in ((T0, T0 + 1), (T0, None), (T0 + 80 * DAY, T0 + 80 * DAY)):
            conn.execute(
                sa.insert(watch_alerts).values(
                    watch="housing",
                    thread=f"t{raised}{done}",
                    kind="posts",
                    raised_at=raised,
                    due_at=raised,
                    body="b",
                    done_at=done,
                )
            )
        conn.execute(sa.insert(dashboard_nonces).values(nonce="n1", expires_at=T0))
        conn.execute(
            sa.insert(dashboard_sessions).values(
                token_hash="h1", username="ann", groups="[]", expires_at=T0
            )
        )
        conn.execute(
            sa.insert(dashboard_sessions).values(
                token_hash="h2", username="ann", groups="[]", expires_at=T0 + 999 * DAY
            )
        )


def test_watching_data_goes_after_watching_days_and_sign_ins_once_expired(store: Store) -> None:
    _watch_rows(store)
    report = prune(store.db, DEFAULTS, T0 + 91 * DAY)
    assert (report.watch_activity, report.watch_alerts, report.dashboard_sign_ins) == (1, 1, 2)
    with store.db.read() as conn:
        assert conn.execute(sa.select(watch_activity.c.at)).scalars().all() == [T0 + 80 * DAY]
        # An alert not sent yet stays, however old.
        left = conn.execute(sa.select(watch_alerts.c.done_at)).scalars().all()
        assert sorted(left, key=lambda d: d or 0) == [None, T0 + 80 * DAY]
        assert conn.execute(sa.select(dashboard_sessions.c.token_hash)).scalars().all() == ["h2"]


def test_a_prune_cut_short_resumes_and_the_pruner_waits_its_interval(store: Store) -> None:
    for n in range(3):
        store.audit.record(AuditEntry(T0 + n, None, "town", "carried", "direction", "b", "ann"))
    assert prune(store.db, DEFAULTS, T0 + 400 * DAY, stop=lambda: True).audit_entries == 0
    clock = iter([T0 + 400 * DAY, T0 + 400 * DAY + 10, T0 + 400 * DAY + 3601])
    pruner = Pruner(store.db, clock=lambda: next(clock))
    first = pruner.tick(DEFAULTS, lambda: False)
    assert first is not None and first.audit_entries == 3
    assert pruner.tick(DEFAULTS, lambda: False) is None, "not before the interval"
    assert pruner.tick(DEFAULTS, lambda: False) is not None


def test_decision_counts_survive_pruning_and_scrapes_read_only_new_entries(
    store: Store,
) -> None:
    def entry(at: float, outcome: str = "carried") -> AuditEntry:
        return AuditEntry(at, None, "town", outcome, "direction", "b-1", "ann")

    for n in range(50):
        store.audit.record(entry(T0 + n))
    now = T0 + 400 * DAY
    tally = DecisionTally(store.db)
    assert tally.counts(now) == [("town", "carried", "direction", 50)]

    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(store.db.engine, "before_cursor_execute", seen)
    try:
        store.audit.record(entry(now - 1, "refused"))
        assert prune(store.db, DEFAULTS, now).audit_entries == 50
        statements.clear()
        counts = tally.counts(now)
    finally:
        sa.event.remove(store.db.engine, "before_cursor_execute", seen)
    # The pruned entries still count: a counter never goes down.
    assert counts == [("town", "carried", "direction", 50), ("town", "refused", "direction", 1)]
    on_audit = [s for s in statements if "audit" in s.lower()]
    assert on_audit, statements
    for statement in on_audit:
        assert "audit.id >" in statement, statement  # a range of the primary key
        assert "group by" not in statement.lower() and "count(" not in statement.lower()
    if store.db.dialect == "sqlite":
        with store.db.read() as conn:
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {on_audit[0]}", (0,))
            )
        assert "INTEGER PRIMARY KEY" in plan and "SCAN audit" not in plan.replace(
            "SCAN audit USING INTEGER PRIMARY KEY", ""
        ), plan


def test_recent_entries_count_at_once_and_settle_later(store: Store) -> None:
    tally = DecisionTally(store.db)
    store.audit.record(AuditEntry(T0, None, None, "refused", "boundary", "b-1", "ann"))
    assert tally.counts(T0 + 1) == [("", "refused", "boundary", 1)]
    assert tally.counts(T0 + 2) == [("", "refused", "boundary", 1)], "not counted twice"
    assert tally.counts(T0 + SETTLE_SECONDS + 1) == [("", "refused", "boundary", 1)]


# --- the config and the command ---------------------------------------------------------------


def test_retention_keys_are_validated_with_their_paths() -> None:
    data = config_data()
    data["store"] = {"retention": {"audit_days": 30, "inbox_days": -1, "interval": 0}}
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data))
    errors = caught.value.errors
    assert any(
        e.startswith("store.retention.audit_days: must be 0 (keep forever) or at least 60")
        for e in errors
    ), errors
    assert any(e.startswith("store.retention.inbox_days:") for e in errors), errors
    assert any(e.startswith("store.retention.interval:") for e in errors), errors
    assert parse_config(yaml.safe_dump(config_data())).store.retention == DEFAULTS


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[tuple[Path, Store]]:
    data = config_data()
    data["store"] = {"url": sqlite_url(tmp_path)}
    path = tmp_path / "porch.yaml"
    path.write_text(yaml.safe_dump(data))
    store = Store.open(data["store"]["url"])
    yield path, store
    store.close()


def test_porch_prune_dry_run_counts_and_prune_forgets(configured: tuple[Path, Store]) -> None:
    path, store = configured
    (done,) = store.inbox.append([event(1)], T0)
    assert done is not None
    store.inbox.complete(done, T0)
    store.audit.record(AuditEntry(T0, done, "town", "carried", "direction", "b-1", "ann"))

    def porch(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "webhooks.cli", "prune", "-c", str(path), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    dry = porch("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would prune 1 inbox payloads" in dry.stdout
    assert "would prune 1 audit entries" in dry.stdout
    assert store.inbox.rows()[0].payload != ""
    done_run = porch()
    assert done_run.returncode == 0, done_run.stderr
    assert "pruned 1 inbox payloads" in done_run.stdout
    assert store.inbox.rows()[0].payload == "" and store.audit.entries() == []


def test_a_metrics_scrape_reads_no_old_audit_entries_and_counters_never_go_down(
    store: Store,
) -> None:
    """What Prometheus sees: after the first scrape, a scrape reads only the newest audit
    entries, and ``porch_decisions`` does not drop when old entries are pruned."""
    from webhooks.metrics_endpoint import StoreCollector

    for n in range(30):
        store.audit.record(AuditEntry(T0 + n, None, "town", "carried", "direction", "b", "ann"))
    now = T0 + 400 * DAY
    collector = StoreCollector(store, make_config().links, clock=lambda: now)

    def decisions() -> dict[tuple[str, ...], float]:
        found = {}
        for family in collector.collect():
            if family.name == "porch_decisions":
                for sample in family.samples:
                    if sample.name == "porch_decisions_total":
                        found[tuple(sample.labels.values())] = sample.value
        return found

    assert decisions() == {("town", "carried", "direction"): 30}
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lower())

    prune(store.db, DEFAULTS, now)
    sa.event.listen(store.db.engine, "before_cursor_execute", seen)
    try:
        assert decisions() == {("town", "carried", "direction"): 30}
    finally:
        sa.event.remove(store.db.engine, "before_cursor_execute", seen)
    on_audit = [s for s in statements if " audit" in s]
    assert on_audit and all("audit.id >" in s and "group by" not in s for s in on_audit)
