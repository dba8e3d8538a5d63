"""Watching end to end: real Synapse, the forum double, ``porch serve`` as a child process, a
local SMTP server (aiosmtpd) and a webhook receiver.

- a post matching a watch raises one alert in the watch room (linking both copies), one email
  and one signed webhook call; a second matching post in the same thread raises none;
- a burst that makes a thread trend raises one trending alert, however long the burst goes on;
- ``porch digest --send`` lists what happened, in the room and by email;
- a post in a restricted category reaches a watch whose groups may read it, and nothing of it
  reaches a watch (alerts, digest) or a dashboard viewer whose groups may not; the watch that may
  read it alerts a room with a member who may not, and an email address, with a link only;
- a chat message in an invite-only room linked to an open category feeds no watch.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller

from bridges.model import UserID
from bridges.store.link_requests import IdentityGroups
from bridges.store.watch_records import WatchRecords
from sandbox.forum import SandboxForum
from tests.e2e.chat_side import link_identity, porch_store, wait_for_post
from tests.e2e.conftest import BOT, Linked, is_text
from tests.rig.forum import WebhookSink
from tests.rig.matrix import ChatUser
from tests.rig.wait import wait_until

CONNECT_SECRET = "connect-secret-for-watching"
HOOK_SECRET = "hook-secret-for-watching"
TEAM = "team@example.org"
COUNCIL_MAIL = "council@example.org"
COUNCIL_TITLE = "Confidential rent subsidy plan"


@dataclass
class Mailbox:
    """What the local SMTP server received."""

    messages: list[tuple[list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for rcpts, m in self.messages if address in rcpts]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def notices(user: ChatUser, room: str, contains: str) -> list[dict[str, Any]]:
    return [
        e
        for e in user.room_messages(room, limit=100)
        if e.get("sender") == BOT
        and e.get("content", {}).get("msgtype") == "m.notice"
        and contains in str(e["content"].get("body"))
    ]


def watch_room(user: ChatUser) -> str:
    room = user.create_room(name="Policy watch", preset="private_chat")
    user.invite(room, BOT)
    return room


def start(town: Linked, watching: dict[str, Any], smtp_port: int) -> None:
    town.porch.data["discourse"]["connect_secret"] = CONNECT_SECRET
    town.porch.data["watching"] = {
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "porch@example.org"},
        "dashboard": {"groups": ["policy-team"]},
        # Far from now: what the test does falls in the current period, which the scheduled
        # run never digests, so only ``porch digest --send`` sends one.
        "digest_hour": (datetime.now(UTC).hour + 12) % 24,
        **watching,
    }
    town.porch.write()
    town.porch.start()


def all_handled(town: Linked, activity: int, watch: str) -> None:
    """Wait until the inbox is drained and ``watch`` recorded ``activity`` posts: every alert
    those posts could raise has been raised and sent by then."""

    def done() -> bool:
        with porch_store(town.porch) as store:
            pending = store.inbox.rows("pending")
            seen = WatchRecords(store.db).activity(watch)
        return not pending and len(seen) >= activity

    wait_until(done, 30, f"{activity} posts seen by watch {watch} and an empty inbox")


def test_a_matching_post_alerts_once_and_a_restricted_one_reaches_only_its_readers(
    linked: Callable[..., Linked],
    forum: SandboxForum,
    smtp: tuple[Mailbox, int],
    webhook_sink: WebhookSink,
) -> None:
    mailbox, port = smtp
    forum.add_category("council", "Council", group_permissions={"council": 1})
    forum.add_user("carl", groups=["council"])
    forum.add_user("pat", groups=["policy-team"])
    forum.sso.set_secret("127.0.0.1", CONNECT_SECRET)
    town = linked(start=False)
    room = watch_room(town.dana)
    start(
        town,
        {
            "watches": [
                {
                    "name": "housing",
                    "groups": ["policy-team"],
                    "terms": {"words": ["rent"], "patterns": [r"evict\w*"]},
                    "alerts": {
                        "room": room,
                        "emails": [TEAM],
                        "webhook": {"url": webhook_sink.url, "secret": HOOK_SECRET},
                    },
                    "digest": {"every": "daily", "room": True, "emails": [TEAM]},
                },
                {
                    "name": "council-watch",
                    "groups": ["council"],
                    "categories": ["council"],
                    "terms": {"words": ["rent"]},
                    "alerts": {"room": room, "emails": [COUNCIL_MAIL]},
                },
            ]
        },
        port,
    )

    first = forum.create_topic(
        "alice", "town-square", "Rent is too high", "Evictions are up on our street."
    )
    root = town.dana.wait_for_event(town.room, is_text("Rent is too high"), timeout=30)
    alert = wait_until(
        lambda: notices(town.dana, room, "[watch housing]"), 30, "the housing alert"
    )[0]
    body = alert["content"]["body"]
    assert "Rent is too high" in body and "matches" in body
    assert f"/t/{first['topic_slug']}/{first['topic_id']}/1" in body
    assert f"https://matrix.to/#/{town.room}/{root['event_id']}" in body
    assert 'href="https://matrix.to/' in alert["content"]["formatted_body"]
    mail = wait_until(lambda: mailbox.to(TEAM), 30, "the alert email")
    assert "Rent is too high" in mail[0]["Subject"]
    hook = wait_until(lambda: webhook_sink.received, 30, "the alert webhook")[0]
    expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["X-Porch-Signature"] == expected
    payload = json.loads(hook.body)
    assert payload["kind"] == "match" and payload["terms"] == ["rent", r"evict\w*"]

    # The same thread matching again: no second alert on any channel.
    forum.reply("bob", first["topic_id"], "The rent went up again this month.")
    # A restricted category: the council's watch sees it, the policy team's does not.
    council = forum.create_topic(
        "carl", "council", COUNCIL_TITLE, "Rent support for 40 households."
    )
    # The watch room's member dana is linked to no forum account, and nobody can say who reads
    # an email address: both get the alert as a link, without the restricted text.
    withheld = wait_until(
        lambda: notices(town.dana, room, "[watch council-watch]"), 30, "the council alert"
    )
    council_mail = wait_until(lambda: mailbox.to(COUNCIL_MAIL), 30, "the council email")
    council_link = f"{forum.base_url}/t/{council['topic_id']}"
    assert council_link in withheld[0]["content"]["body"]
    for leak in (COUNCIL_TITLE, "carl", "rent", council["topic_slug"]):
        assert leak not in json.dumps(withheld[0]["content"])
        assert leak not in council_mail[0].as_string()
    all_handled(town, 2, "housing")
    assert len(notices(town.dana, room, "[watch housing]")) == 1
    assert len(mailbox.to(TEAM)) == 1
    assert len(webhook_sink.received) == 1
    for event in notices(town.dana, room, "[watch housing]"):
        assert COUNCIL_TITLE not in str(event["content"])
    subjects = [m["Subject"] for m in mailbox.to(COUNCIL_MAIL)]
    assert subjects == ["[porch watch council-watch] match"]
    # Once every member of the watch room is a linked forum user of the council, the room
    # gets the council's alerts in full.
    link_identity(town.porch, town.dana.user_id, "carl")
    with porch_store(town.porch) as store, store.db.begin() as conn:
        IdentityGroups.replace(conn, UserID(town.dana.user_id), {"council"})
    forum.create_topic(
        "carl", "council", "Council rent review dates", "The rent review is in May this year."
    )
    wait_until(lambda: notices(town.dana, room, "Council rent review dates"), 30, "the full alert")

    # The digest lists what happened, and nothing of the council's.
    out = town.porch.cli("digest", "--watch", "housing", "--since", "3600", "--send")
    assert out.returncode == 0, out.stderr
    assert "Rent is too high: 2 post(s), 2 participant(s)" in out.stdout
    assert "- town: " in out.stdout and "carried" in out.stdout
    assert "- rent: 2" in out.stdout or "rent" in out.stdout
    assert COUNCIL_TITLE not in out.stdout
    digest = wait_until(
        lambda: [
            e
            for e in town.dana.room_messages(room, limit=100)
            if "Digest of watch housing" in str(e.get("content", {}).get("body"))
        ],
        30,
        "the digest in the watch room",
    )[0]
    assert "Rent is too high" in digest["content"]["formatted_body"]
    assert COUNCIL_TITLE not in json.dumps(digest["content"])
    mails = wait_until(lambda: mailbox.to(TEAM)[1:], 30, "the digest email")
    html = next(p for p in mails[0].walk() if p.get_content_type() == "text/html")
    assert "Rent is too high" in html.get_payload(decode=True).decode()
    # The operator's own terminal shows what the watch saw.
    printed = town.porch.cli("digest", "--watch", "council-watch", "--since", "3600")
    assert COUNCIL_TITLE in printed.stdout

    # The dashboard: a policy-team member signed in through the forum sees the town thread
    # and nothing of the council's.
    browser = requests.Session()
    browser.post(f"{forum.base_url}/sandbox/login", data={"username": "pat"}).raise_for_status()
    page = browser.get(f"{town.porch.url}/watching/login", timeout=30)
    assert page.status_code == 200, page.text
    assert "Rent is too high" in page.text
    for path in ("/watching/", "/watching/crossings", "/watching/w/housing/export.json"):
        shown = browser.get(f"{town.porch.url}{path}", timeout=30)
        assert shown.status_code == 200
        assert COUNCIL_TITLE not in shown.text
    assert browser.get(f"{town.porch.url}/watching/w/council-watch/export.json").status_code == 404

    # The topic moves behind the council's wall: the policy team no longer sees it.
    council_id = forum.category_id("council")
    forum.move_topic(first["topic_id"], "council")

    def moved() -> bool:
        with porch_store(town.porch) as store:
            seen = WatchRecords(store.db).activity("housing")
        return bool(seen) and all(a.category_id == council_id for a in seen)

    wait_until(moved, 30, "the watch's activity to follow the moved topic")
    for path in ("/watching/", "/watching/w/housing/export.json"):
        shown = browser.get(f"{town.porch.url}{path}", timeout=30)
        assert shown.status_code == 200
        assert "Rent is too high" not in shown.text


def test_a_burst_raises_one_trending_alert(
    linked: Callable[..., Linked], forum: SandboxForum, smtp: tuple[Mailbox, int]
) -> None:
    _, port = smtp
    town = linked(start=False)
    room = watch_room(town.dana)
    start(
        town,
        {
            "watches": [
                {
                    "name": "busy",
                    "categories": ["town-square"],
                    "thresholds": {"trending": {"factor": 3, "window": 3600, "min_posts": 3}},
                    "alerts": {"room": room},
                }
            ]
        },
        port,
    )
    first = forum.create_topic(
        "alice", "town-square", "Painting the benches", "Who can help on Saturday?"
    )
    forum.reply("bob", first["topic_id"], "Count me in for Saturday.")
    assert notices(town.dana, room, "trending") == []
    for n in range(4):
        forum.reply(
            "alice" if n % 2 else "bob",
            first["topic_id"],
            f"Bringing brushes and paint, round {n}.",
        )
    alert = wait_until(lambda: notices(town.dana, room, "trending"), 30, "the trending alert")
    assert "Painting the benches" in alert[0]["content"]["body"]
    assert "posts in the last 1 hour" in alert[0]["content"]["body"]
    # A reply in the Matrix thread counts for the same thread, once: its copy on the forum
    # (posted by porch's relay account) is not counted again.
    root = town.dana.wait_for_event(town.room, is_text("Painting the benches"), timeout=30)
    town.dana.send_text(town.room, "I can bring a ladder too.", thread_root=root["event_id"])
    wait_for_post(forum, first["topic_id"], "bring a ladder", timeout=30)
    all_handled(town, 7, "busy")
    with porch_store(town.porch) as store:
        seen = WatchRecords(store.db).activity("busy")
    assert len(seen) == 7
    assert {a.thread for a in seen} == {f"topic:{first['topic_id']}"}
    (chat,) = [a for a in seen if a.author == town.dana.user_id]
    assert chat.matrix_url is not None and town.room in chat.matrix_url
    assert len(notices(town.dana, room, "[watch busy]")) == 1


def _handled(town: Linked, event_id: str) -> bool:
    """The inbox took the chat event ``event_id`` and is done with it."""
    with porch_store(town.porch) as store:
        rows = [r for r in store.inbox.rows() if event_id in r.payload]
        pending = store.inbox.rows("pending")
    return bool(rows) and not pending


def test_an_invite_only_room_of_an_open_category_feeds_no_watch(
    linked: Callable[..., Linked], smtp: tuple[Mailbox, int]
) -> None:
    """The room's members read a chat message first: once the room is invite-only, the open
    category's readers (everyone) are not its readers, and no watch records or alerts it."""
    _, port = smtp
    town = linked(start=False)
    room = watch_room(town.dana)
    start(
        town,
        {"watches": [{"name": "street", "terms": {"words": ["rent"]}, "alerts": {"room": room}}]},
        port,
    )

    def bot_joined() -> bool:
        member = town.dana.room_state(town.room, "m.room.member", BOT)
        return member is not None and member.get("membership") == "join"

    # The homeserver pushes a room's messages to porch once its bot is in the room.
    wait_until(bot_joined, 30, "porch's bot to join the linked room")
    # While the room is public, its messages are everyone's to read: the watch alerts.
    town.dana.send_text(town.room, "Open rent question for the street")
    wait_until(lambda: notices(town.dana, room, "[watch street]"), 30, "the open alert")

    town.dana.put_state(town.room, "m.room.join_rules", {"join_rule": "invite"})
    secret = town.dana.send_text(town.room, "Invite-only rent arrears of flat 4B")
    wait_until(lambda: _handled(town, secret), 30, "the invite-only message handled")

    with porch_store(town.porch) as store:
        seen = WatchRecords(store.db).activity("street")
        alerts = WatchRecords(store.db).alerts("street")
    assert [a.event_id for a in seen if a.event_id == secret] == []
    assert len(alerts) == 1
    for event in town.dana.room_messages(room, limit=100):
        assert "4B" not in json.dumps(event.get("content", {}))
