"""Digests on the real store: the last complete period, what the watch's groups may read, sent
once per period by the scheduled run (here by email to a local SMTP server)."""

from __future__ import annotations

from datetime import UTC, datetime

from aiosmtpd.controller import Controller

from bridges.links import LinkConfig
from bridges.model import CategoryID, RoomID
from bridges.store.audit import AuditEntry
from bridges.store.store import Store
from bridges.store.tier_records import CategorySecurity, RoomSecurity
from bridges.store.watch_records import Activity, WatchRecords
from bridges.watching.access import Readers
from bridges.watching.alerts import raise_alert
from bridges.watching.digest import Digests, render_html, render_text
from bridges.watching.watching_config import WatchingConfig
from policies.tiers import Tier
from policies.watching import AlertKind
from tests.bridges.test_watching_alerts import Clock, Mailbox, free_port, no_room


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


LINKS = [
    LinkConfig.model_validate({"name": "town", "forum": {"category": 10}, "room": "!t:x"}),
    LinkConfig.model_validate({"name": "council", "forum": {"category": 11}, "room": "!c:x"}),
]


def seed(store: Store) -> None:
    for cid, restricted, groups, tier in (
        (10, False, {"everyone": 1}, Tier.OPEN),
        (11, True, {"council": 1}, Tier.PRIVATE),
    ):
        store.tiers.save_category(
            CategorySecurity(CategoryID(cid), f"c{cid}", None, restricted, groups, tier, 0)
        )
    for room, join_rule, room_tier in (
        ("!t:x", "public", Tier.OPEN),
        ("!c:x", "invite", Tier.PRIVATE),
    ):
        store.tiers.save_room(RoomSecurity(RoomID(room), join_rule, None, room_tier, 0))
    records = WatchRecords(store.db)
    plan = [
        ("topic:1", "Old thread", 10, at("2026-03-01T09:00"), ()),
        ("topic:1", "Old thread", 10, at("2026-03-03T09:00"), ()),
        ("topic:2", "Rent strike", 10, at("2026-03-03T10:00"), ("rent",)),
        ("topic:2", "Rent strike", 10, at("2026-03-03T11:00"), ("rent",)),
        ("topic:2", "Rent strike", 10, at("2026-03-03T12:00"), ("rent",)),
        ("topic:3", "Council rent plan", 11, at("2026-03-03T12:00"), ("rent",)),
    ]
    for n, (thread, title, cid, when, terms) in enumerate(plan):
        words = ("picket", "landlords") if thread == "topic:2" else ("subsidy",)
        records.record(
            Activity(
                "housing", n, when, thread, f"u{n % 2}", terms, title, category_id=cid, words=words
            )
        )
    for link, outcome in (("town", "carried"), ("town", "held"), ("council", "refused")):
        store.audit.record(
            AuditEntry(at("2026-03-03T12:00"), None, link, outcome, f"rule-{link}", "v", "a")
        )


def test_the_scheduled_digest_lists_the_period_once_and_only_what_its_groups_read(
    store: Store,
) -> None:
    seed(store)
    port = free_port()
    cfg = WatchingConfig.model_validate(
        {
            "smtp": {"host": "127.0.0.1", "port": port, "sender": "porch@example.org"},
            "quiet_hours": {"start": "22:00", "end": "07:00", "mode": "digest"},
            "watches": [
                {
                    "name": "housing",
                    "terms": {"words": ["rent"]},
                    "digest": {"every": "daily", "room": False, "emails": ["t@example.org"]},
                }
            ],
        }
    )
    records = WatchRecords(store.db)
    body = {"watch": "housing", "title": "Rent strike", "thread": "topic:2"}
    raise_alert(records, cfg, "housing", "topic:2", AlertKind.MATCH, body, at("2026-03-03T23:00"))
    clock = Clock(at("2026-03-04T08:00"))
    digests = Digests(cfg, Readers(store, LINKS), None, no_room, clock=clock)
    digest = digests.current(cfg.watch("housing"))
    assert digest.period == "2026-03-03"
    text = render_text(digest)
    assert [t.label for t in digest.new_threads] == ["Rent strike"]
    assert [t.label for t in digest.most_active] == ["Rent strike", "Old thread"]
    assert [e.term for e in digest.emerging] == ["rent"]
    assert [e.term for e in digest.emerging_words] == ["landlords", "picket"]
    assert digest.crossed == {
        "town": {"carried": 1, "transformed": 0, "held": 1, "refused": 0, "retracted": 0}
    }
    assert "rule-town" in text and "Alerts during quiet hours" in text
    for shown in (text, render_html(digest)):
        assert "Council rent plan" not in shown and "rule-council" not in shown
        assert "subsidy" not in shown

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert digests.tick() == 1
        assert digests.tick() == 0
    finally:
        controller.stop()
    (mail,) = box.received
    assert b"Rent strike" in mail[1] and b"text/html" in mail[1]
    assert b"Council rent plan" not in mail[1]


def test_an_emailed_digest_leaves_out_what_not_everyone_may_read(store: Store) -> None:
    """A watch of the council reads the council's thread, but nobody can say who reads an
    email address: the emailed digest lists only the open threads and links."""
    seed(store)
    port = free_port()
    cfg = WatchingConfig.model_validate(
        {
            "smtp": {"host": "127.0.0.1", "port": port, "sender": "porch@example.org"},
            "watches": [
                {
                    "name": "housing",
                    "groups": ["council"],
                    "terms": {"words": ["rent"]},
                    "digest": {"every": "daily", "room": False, "emails": ["c@example.org"]},
                }
            ],
        }
    )
    clock = Clock(at("2026-03-04T08:00"))
    digests = Digests(cfg, Readers(store, LINKS), None, no_room, clock=clock)
    # The watch's own view (``porch digest`` in the operator's terminal) has the thread.
    assert "Council rent plan" in render_text(digests.current(cfg.watch("housing")))

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert digests.tick() == 1
    finally:
        controller.stop()
    (mail,) = box.received
    assert b"Rent strike" in mail[1]
    for hidden in (b"Council rent plan", b"rule-council", b"subsidy"):
        assert hidden not in mail[1]
