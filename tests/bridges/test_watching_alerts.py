"""Alert delivery over real channels: a local SMTP server (aiosmtpd) and a webhook receiver,
on the real store. Deduplication, quiet hours (held or folded), and retrying only the channel
that failed."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bridges.model import CategoryID, RoomID
from bridges.store.store import Store
from bridges.store.tier_records import CategorySecurity
from bridges.store.watch_records import WatchRecords
from bridges.watching.access import Readers
from bridges.watching.alerts import SIGNATURE_HEADER, Dispatcher, raise_alert
from bridges.watching.watching_config import WatchingConfig
from policies.tiers import Tier
from policies.watching import AlertKind
from sandbox.synapse import free_port
from tests.rig.clock import Clock
from tests.rig.forum import WebhookSink

HOOK_SECRET = "hook-secret-0123456789"


class Mailbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def mailbox(smtp_port: int) -> Iterator[Mailbox]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield box
    controller.stop()


def config(smtp_port: int, sink: WebhookSink, **extra: Any) -> WatchingConfig:
    return WatchingConfig.model_validate(
        {
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "porch@example.org"},
            "watches": [
                {
                    "name": "housing",
                    "alerts": {
                        "emails": ["team@example.org"],
                        "webhook": {"url": sink.url, "secret": HOOK_SECRET},
                    },
                }
            ],
            **extra,
        }
    )


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def no_room(room: str) -> RoomID:
    raise AssertionError("no room is configured")


OPEN, COUNCIL = 10, 11
BODY: dict[str, object] = {
    "watch": "housing",
    "title": "Rent is too high",
    "forum_url": "http://forum.test/t/rent/1/1",
    "matrix_url": "https://matrix.to/#/!r:x/$e",
    "terms": ["rent"],
    "author": "alice",
    "source": {"category_id": OPEN, "chat_room_id": None},
    "withheld_url": "http://forum.test/t/1",
}


@pytest.fixture
def readers(store: Store) -> Readers:
    """An open category and a council-only one, as the worker records them."""
    for cid, restricted, groups, tier in (
        (OPEN, False, {"everyone": 1}, Tier.OPEN),
        (COUNCIL, True, {"council": 1}, Tier.PRIVATE),
    ):
        store.tiers.save_category(
            CategorySecurity(CategoryID(cid), f"c{cid}", None, restricted, groups, tier, 0.0)
        )
    return Readers(store, ())


def test_one_email_and_one_signed_webhook_per_thread_and_kind(
    store: Store,
    mailbox: Mailbox,
    smtp_port: int,
    webhook_sink: WebhookSink,
    readers: Readers,
) -> None:
    clock = Clock(at("2026-03-02T12:00"))
    cfg = config(smtp_port, webhook_sink)
    records = WatchRecords(store.db)
    sender = Dispatcher(cfg, records, None, no_room, clock=clock, readers=readers)
    assert raise_alert(records, cfg, "housing", "topic:1", AlertKind.MATCH, BODY, clock())
    assert not raise_alert(records, cfg, "housing", "topic:1", AlertKind.MATCH, BODY, clock())
    assert sender.send_due() == 1
    assert sender.send_due() == 0
    assert len(mailbox.received) == 1
    assert b"Rent is too high" in mailbox.received[0][1]
    (hook,) = webhook_sink.received
    digest = hmac.new(HOOK_SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers[SIGNATURE_HEADER] == f"sha256={digest}"
    sent = json.loads(hook.body)
    assert sent["kind"] == "match" and sent["matrix_url"] == BODY["matrix_url"]
    assert sent["title"] == "Rent is too high" and "source" not in sent


@pytest.mark.parametrize("source", [{"category_id": COUNCIL, "chat_room_id": None}, None])
def test_mail_and_webhooks_get_only_a_link_for_what_not_everyone_may_read(
    store: Store,
    mailbox: Mailbox,
    smtp_port: int,
    webhook_sink: WebhookSink,
    readers: Readers,
    source: dict[str, object] | None,
) -> None:
    """Who reads an address or a webhook is unknown: a council-only thread (or an alert that
    does not say where it came from) reaches them as a link, without its title, terms or
    author."""
    cfg = WatchingConfig.model_validate(
        {
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "porch@example.org"},
            "watches": [
                {
                    "name": "housing",
                    "groups": ["council"],
                    "alerts": {
                        "emails": ["team@example.org"],
                        "webhook": {"url": webhook_sink.url},
                    },
                }
            ],
        }
    )
    clock = Clock(at("2026-03-02T12:00"))
    records = WatchRecords(store.db)
    sender = Dispatcher(cfg, records, None, no_room, clock=clock, readers=readers)
    body = {**BODY, "title": "Council secret rent plan", "source": source}
    raise_alert(records, cfg, "housing", "topic:1", AlertKind.MATCH, body, clock())

    assert sender.send_due() == 1

    ((_, mail),) = mailbox.received
    (hook,) = webhook_sink.received
    for sent in (mail, hook.body):
        assert b"Council secret" not in sent and b"alice" not in sent
        assert b"rent" not in sent.lower()
        assert b"http://forum.test/t/1" in sent
    assert json.loads(hook.body)["withheld"] is True


def test_a_failed_channel_is_retried_alone(
    store: Store, smtp_port: int, webhook_sink: WebhookSink
) -> None:
    clock = Clock(at("2026-03-02T12:00"))
    cfg = config(smtp_port, webhook_sink)
    records = WatchRecords(store.db)
    sender = Dispatcher(cfg, records, None, no_room, clock=clock)
    raise_alert(records, cfg, "housing", "topic:1", AlertKind.TRENDING, BODY, clock())
    # Nothing listens on the SMTP port yet: the email fails, the webhook goes out.
    assert sender.send_due() == 0
    assert len(webhook_sink.received) == 1
    (waiting,) = records.alerts("housing")
    assert waiting.sent["email"] is None and waiting.sent["webhook"] is not None
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        assert sender.send_due() == 0  # not due again yet
        clock.now += 3600
        assert sender.send_due() == 1
    finally:
        controller.stop()
    assert len(box.received) == 1
    assert len(webhook_sink.received) == 1


@pytest.mark.parametrize("mode", ["hold", "digest"])
def test_quiet_hours_hold_or_fold_alerts(
    store: Store, mailbox: Mailbox, smtp_port: int, webhook_sink: WebhookSink, mode: str
) -> None:
    clock = Clock(at("2026-03-02T23:30"))
    quiet = {"start": "22:00", "end": "07:00", "timezone": "UTC", "mode": mode}
    cfg = config(smtp_port, webhook_sink, quiet_hours=quiet)
    records = WatchRecords(store.db)
    sender = Dispatcher(cfg, records, None, no_room, clock=clock)
    assert not raise_alert(records, cfg, "housing", "topic:1", AlertKind.MATCH, BODY, clock())
    assert sender.send_due() == 0
    clock.now = at("2026-03-03T06:59")
    assert sender.send_due() == 0
    clock.now = at("2026-03-03T07:00")
    assert sender.send_due() == (1 if mode == "hold" else 0)
    assert len(mailbox.received) == (1 if mode == "hold" else 0)
    (alert,) = records.alerts("housing")
    assert alert.folded is (mode == "digest")
