"""A dashboard session follows the forum: groups the forum removed stop showing within
``watching.dashboard.groups_recheck`` seconds, and when the forum cannot be asked the pages are
refused rather than shown with groups that may be gone. And starting a sign-in writes nothing:
anonymous ``GET /watching/login`` cannot grow a table.

Over the Flask app and the forum double's DiscourseConnect provider and ``/u/{name}.json``.
"""

from __future__ import annotations

import time

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr

from bridges.store.store import Store
from bridges.store.watch_records import WatchRecords
from sandbox.forum import SandboxForum
from tests.rig.clock import Clock
from tests.rig.forum import FORUM_API_KEY
from tests.webhooks.test_dashboard import (
    SECRET,
    SECRET_TITLE,
    dashboard_config,
    seed,
    sign_in,
)
from webhooks.app import create_app

#: The default ``watching.dashboard.groups_recheck``.
RECHECK = 300.0
PAGES = ("/watching/", "/watching/w/council-watch/heatmap", "/watching/w/housing/export.json")


@pytest.fixture
def clock() -> Clock:
    return Clock(time.time())


@pytest.fixture
def client(forum: SandboxForum, store: Store, clock: Clock) -> FlaskClient:
    forum.sso.set_secret("porch.test", SECRET)
    forum.add_user("dave", groups=["policy-team", "council"])
    forum.add_user("carol", groups=["policy-team"])
    seed(store, clock())
    config = dashboard_config(forum.base_url)
    # Porch's real admin key on the double: the groups are asked for with it.
    discourse = config.discourse.model_copy(update={"api_key": SecretStr(FORUM_API_KEY)})
    config = config.model_copy(update={"discourse": discourse})
    return create_app(config, store, clock=clock).test_client()


def shown(client: FlaskClient) -> str:
    return "\n".join(client.get(p).get_data(as_text=True) for p in PAGES)


def test_a_group_the_forum_removed_stops_showing_at_the_next_check(
    client: FlaskClient, forum: SandboxForum, store: Store, clock: Clock
) -> None:
    assert sign_in(client, forum, "dave") == 303
    assert SECRET_TITLE in shown(client)

    forum.remove_from_group("dave", "council")
    clock.now += RECHECK - 1
    # Within the interval the forum is not asked again (its admin budget is site-wide).
    assert SECRET_TITLE in shown(client)
    clock.now += 2

    for path in PAGES:
        page = client.get(path)
        assert SECRET_TITLE not in page.get_data(as_text=True), path
    assert client.get("/watching/w/council-watch/heatmap").status_code == 404
    assert client.get("/watching/").status_code == 200
    # Every session of dave reads with the forum's answer now.
    (session_groups,) = [row.groups for row in _sessions(store) if row.username == "dave"]
    assert "council" not in session_groups


def test_a_member_who_left_the_dashboards_groups_is_signed_out(
    client: FlaskClient, forum: SandboxForum, clock: Clock
) -> None:
    assert sign_in(client, forum, "carol") == 303
    forum.remove_from_group("carol", "policy-team")
    clock.now += RECHECK + 1
    page = client.get("/watching/")
    assert page.status_code == 401
    assert "Sign in with the forum" in page.text
    # Signed out for good: the forum answering again does not bring the session back.
    forum.add_to_group("carol", "policy-team")
    assert client.get("/watching/").status_code == 401


def test_a_forum_that_cannot_be_asked_fails_closed_after_the_interval(
    client: FlaskClient, forum: SandboxForum, clock: Clock
) -> None:
    assert sign_in(client, forum, "dave") == 303
    forum.fail_next(50, status=503, path_prefix="/users/")
    clock.now += RECHECK + 1
    for path in PAGES:
        page = client.get(path)
        assert page.status_code == 503, path
        assert SECRET_TITLE not in page.get_data(as_text=True)
        assert "Cannot confirm your groups" in page.get_data(as_text=True)
    forum.clear_faults()
    # A failed check is retried after a pause, not on every page.
    clock.now += 31
    assert SECRET_TITLE in shown(client)


def test_anonymous_sign_in_starts_store_nothing(
    client: FlaskClient, forum: SandboxForum, store: Store
) -> None:
    records = WatchRecords(store.db)
    for _ in range(200):
        assert client.get("/watching/login").status_code == 302
    assert records.nonce_count() == 0
    # A sign-in the forum answered keeps its nonce (to refuse a replay) until it expires.
    assert sign_in(client, forum, "carol") == 303
    assert records.nonce_count() == 1


def _sessions(store: Store) -> list[object]:
    import sqlalchemy as sa

    from bridges.store.watch_records import dashboard_sessions

    with store.db.read() as conn:
        return list(conn.execute(sa.select(dashboard_sessions)))
