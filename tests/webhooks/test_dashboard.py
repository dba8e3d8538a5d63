"""The watching dashboard over its Flask app, signed in through the forum double's
DiscourseConnect provider (a ``requests.Session`` plays the browser at the forum).

Each viewer sees only what their forum groups may read: a watch they do not share, a thread in
a restricted category, a link whose category they cannot read, are absent from every page and
export; a category whose readers are unknown is absent for everyone.
"""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlsplit

import pytest
import requests
from flask.testing import FlaskClient

from bridges.model import CategoryID, RoomID
from bridges.store.audit import AuditEntry
from bridges.store.review import NewHeld, ReviewQueue
from bridges.store.store import Store
from bridges.store.tier_records import CategorySecurity, RoomSecurity
from bridges.store.watch_records import Activity, WatchRecords
from policies.tiers import Tier
from sandbox.forum import SandboxForum
from tests.webhooks.configs import make_config
from webhooks.app import create_app
from webhooks.config import PorchConfig
from webhooks.dashboard import RedactSignIn

SECRET = "connect-secret-for-tests"
PUBLIC = "https://porch.test"
DAY = 86400.0
TOWN, COUNCIL, UNKNOWN = 10, 11, 12
#: Keywords of the posts per category, for the emerging-words heat map.
WORDS = {TOWN: ("landlords", "tenants"), COUNCIL: ("subsidy", "households")}
OPEN_TITLE = "Rents on Market Street"
SECRET_TITLE = "Council budget for rent relief"
UNKNOWN_TITLE = "Unread category thread"


def dashboard_config(forum_url: str, public_url: str = PUBLIC) -> PorchConfig:
    return make_config(
        discourse={"url": forum_url, "connect_secret": SECRET},
        listen={"public_url": public_url},
        links=[
            {"name": "town-square", "forum": {"category": "town-square"}, "room": "!town:x"},
            {"name": "council", "forum": {"category": "council"}, "room": "!council:x"},
        ],
        watching={
            "dashboard": {"groups": ["policy-team"]},
            "watches": [
                {
                    "name": "housing",
                    "groups": ["policy-team"],
                    "terms": {"words": ["rent", "eviction"], "phrases": ["social housing"]},
                },
                {"name": "council-watch", "groups": ["council"], "terms": {"words": ["rent"]}},
            ],
        },
    )


def seed(store: Store, now: float) -> None:
    """Two weeks of activity in an open, a restricted and an unread category, and decisions."""
    for cid, slug, restricted, groups, tier in (
        (TOWN, "town-square", False, {"everyone": 1}, Tier.OPEN),
        (COUNCIL, "council", True, {"council": 1}, Tier.PRIVATE),
        (UNKNOWN, "unread", True, None, None),
    ):
        store.tiers.save_category(
            CategorySecurity(CategoryID(cid), slug, slug.title(), restricted, groups, tier, now)
        )
    # The linked rooms: as open and as closed as their categories.
    for room, join_rule, room_tier in (
        ("!town:x", "public", Tier.OPEN),
        ("!council:x", "invite", Tier.PRIVATE),
    ):
        store.tiers.save_room(RoomSecurity(RoomID(room), join_rule, "shared", room_tier, now))
    records = WatchRecords(store.db)
    inbox = 1
    plan = [
        ("housing", "topic:1", OPEN_TITLE, TOWN, ["rent"], [1, 1, 2, 1, 3, 2, 6]),
        ("housing", "topic:1", OPEN_TITLE, TOWN, ["eviction"], [0, 0, 0, 1, 0, 2, 4]),
        ("housing", "topic:4", "Social housing waiting lists", TOWN, ["social housing"], [2]),
        ("housing", "topic:2", SECRET_TITLE, COUNCIL, ["rent"], [3, 3]),
        ("council-watch", "topic:2", SECRET_TITLE, COUNCIL, ["rent"], [3, 3]),
        ("housing", "topic:3", UNKNOWN_TITLE, UNKNOWN, ["rent"], [5]),
    ]
    for watch, thread, title, cid, terms, per_day in plan:
        for back, count in enumerate(reversed(per_day)):
            for n in range(count):
                records.record(
                    Activity(
                        watch=watch,
                        inbox_id=inbox,
                        at=now - back * DAY - n * 60,
                        thread=thread,
                        author=f"user{n % 3}",
                        terms=tuple(terms),
                        title=title,
                        topic_id=int(thread.split(":")[1]),
                        category_id=cid,
                        forum_url=f"http://forum.test/t/{thread.split(':')[1]}",
                        matrix_url="https://matrix.to/#/!town:x/$e",
                        words=WORDS.get(cid, ()),
                    )
                )
                inbox += 1
    for link, outcome, rule in (
        ("town-square", "carried", "policy:open"),
        ("town-square", "carried", "policy:open"),
        ("town-square", "transformed", "policy:anonymise"),
        ("town-square", "held", "review:new-user"),
        ("town-square", "refused", "policy:no-tag"),
        ("council", "refused", "boundary:council-secret-rule"),
    ):
        store.audit.record(AuditEntry(now - 60, None, link, outcome, rule, "v1", "alice", "why"))
    queue = ReviewQueue(store.db)
    for n, link in enumerate(("town-square", "council")):
        queue.hold(
            NewHeld(
                inbox_id=1000 + n,
                link=link,
                subject=f"post:{n}",
                direction="forum-to-chat",
                kind="forum.post_created",
                payload="{}",
                author="alice",
                preview="the held text itself",
                rule=f"review:{link}-rule",
                policy_version="v1",
                reason="first post of a new member",
            ),
            now,
        )


@pytest.fixture
def client(forum: SandboxForum, store: Store) -> FlaskClient:
    forum.sso.set_secret("porch.test", SECRET)
    for name, groups in (
        ("carol", ["policy-team"]),
        ("dave", ["policy-team", "council"]),
        ("erin", ["council"]),
    ):
        forum.add_user(name, groups=groups)
    seed(store, time.time())
    return create_app(dashboard_config(forum.base_url), store).test_client()


def sign_in(client: FlaskClient, forum: SandboxForum, username: str) -> int:
    """Through the forum as ``username``; the status of porch's answer."""
    browser = requests.Session()
    browser.post(f"{forum.base_url}/sandbox/login", data={"username": username}).raise_for_status()
    start = client.get("/watching/login")
    assert start.status_code == 302, start.text
    answered = browser.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert answered.status_code == 302, answered.text
    back = urlsplit(answered.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == f"{PUBLIC}/watching/sso"
    done = client.get(f"{back.path}?{back.query}")
    if done.status_code == 303:
        # Replaying the same answer signs nobody in.
        assert client.get(f"{back.path}?{back.query}").status_code == 400
    return done.status_code


def everything(client: FlaskClient) -> str:
    pages = [
        "/watching/",
        "/watching/w/housing/heatmap",
        "/watching/w/council-watch/heatmap",
        "/watching/crossings",
        "/watching/review",
        "/watching/w/housing/export.csv",
        "/watching/w/housing/export.json",
        "/watching/w/council-watch/export.json",
    ]
    return "\n".join(client.get(p).get_data(as_text=True) for p in pages)


def test_signed_out_visitors_get_the_sign_in_page(client: FlaskClient) -> None:
    for path in ("/watching/", "/watching/crossings", "/watching/w/housing/export.csv"):
        page = client.get(path)
        assert page.status_code == 401
        assert "Sign in with the forum" in page.text
        assert OPEN_TITLE not in page.text
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_only_dashboard_groups_may_sign_in(client: FlaskClient, forum: SandboxForum) -> None:
    assert sign_in(client, forum, "erin") == 403
    assert client.get("/watching/").status_code == 401


def test_a_policy_team_member_sees_open_threads_and_nothing_restricted(
    client: FlaskClient, forum: SandboxForum
) -> None:
    assert sign_in(client, forum, "carol") == 303
    overview = client.get("/watching/")
    assert overview.status_code == 200
    assert OPEN_TITLE in overview.text and "<polyline" in overview.text
    assert "council-watch" not in overview.text
    heat = client.get("/watching/w/housing/heatmap?days=7")
    assert heat.status_code == 200
    assert 'data-count="6"' in heat.text and "eviction" in heat.text
    assert 'aria-label="emerging words by day"' in heat.text and "landlords" in heat.text
    # Both terms rose today against their own past.
    assert "<b>rent</b>: 6" in heat.text and "<b>eviction</b>: 4" in heat.text
    crossings = client.get("/watching/crossings")
    assert "town-square" in crossings.text and "review:new-user" in crossings.text
    exported = json.loads(client.get("/watching/w/housing/export.json").text)
    assert [t["title"] for t in exported["threads"]] == [
        OPEN_TITLE,
        "Social housing waiting lists",
    ]
    assert exported["threads"][0]["posts"] == 16 + 7
    csv_text = client.get("/watching/w/housing/export.csv").text
    assert csv_text.splitlines()[0].startswith("thread,title,posts")
    assert OPEN_TITLE in csv_text
    seen = everything(client)
    review = client.get("/watching/review").text
    assert "review:town-square-rule" in review and "the held text" not in review
    hidden_bits = (SECRET_TITLE, UNKNOWN_TITLE, "council-secret-rule", "review:council-rule")
    for hidden in (*hidden_bits, "subsidy"):
        assert hidden not in seen
    assert client.get("/watching/w/council-watch/heatmap").status_code == 404


def test_a_council_member_sees_the_council_thread(
    client: FlaskClient, forum: SandboxForum
) -> None:
    assert sign_in(client, forum, "dave") == 303
    seen = everything(client)
    assert SECRET_TITLE in seen and "council-secret-rule" in seen
    assert "review:council-rule" in seen and "subsidy" in seen
    assert UNKNOWN_TITLE not in seen


def test_signing_out_ends_the_session(client: FlaskClient, forum: SandboxForum) -> None:
    assert sign_in(client, forum, "carol") == 303
    assert client.post("/watching/logout").status_code == 303
    assert client.get("/watching/").status_code == 401


def test_a_tampered_answer_signs_nobody_in(client: FlaskClient) -> None:
    answer = client.get("/watching/sso?sso=bm9uY2U9eA%3D%3D&sig=" + "0" * 64)
    assert answer.status_code == 400
    assert "not signed" in answer.text


def test_the_access_log_does_not_show_the_forums_answer() -> None:
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        "",
        0,
        '"%s" %s',
        ("GET /watching/sso?sso=abc&sig=def", 303),
        None,
    )
    assert RedactSignIn().filter(record)
    assert record.getMessage() == '"GET /watching/sso?[redacted]" 303'
