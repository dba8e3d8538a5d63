"""Linking a forum account cannot be done to someone else.

The forum's DiscourseConnect provider answers at once for a member who is signed in, so a
``!link`` URL (or the forum URL porch sends it on to) that reaches another person would tie
*their* forum account, groups and posting rights to the sender's Matrix account the moment
they opened it. Porch's page therefore changes nothing when opened (it names the Matrix account
and asks), its button is a POST guarded by a SameSite=Strict double-submit cookie, and the
forum's answer is only taken from the browser that was sent to the forum for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from bridges.identity.linking import Linking
from bridges.model import UserID
from bridges.store.store import Store
from sandbox.forum import SandboxForum
from tests.webhooks.configs import make_config
from tests.webhooks.test_link_pages import (  # noqa: F401 (fixtures)
    DANA,
    DM,
    PUBLIC,
    SECRET,
    browser_as,
    client,
    open_link,
)
from webhooks.app import create_app

MALLORY = UserID("@mallory:porch.test")


@pytest.fixture
def link_for(store: Store) -> Callable[[UserID], str]:
    """``!link`` as the bot does it, for ``user``: the path of their page."""
    config = make_config(discourse={"url": "http://127.0.0.1:9", "connect_secret": SECRET})
    linking = Linking(store, config.discourse, PUBLIC, time.time)
    return lambda user: urlsplit(linking.start(user, DM)).path


def other_browser(forum: SandboxForum, store: Store) -> FlaskClient:
    """Another person's browser at porch: no cookies of the first."""
    config = make_config(
        discourse={"url": forum.base_url, "connect_secret": SECRET},
        listen={"public_url": PUBLIC},
    )
    return create_app(config, store).test_client()


def test_opening_a_link_changes_nothing_and_names_the_account(
    client: FlaskClient,  # noqa: F811
    forum: SandboxForum,
    link_for: Callable[[UserID], str],
) -> None:
    page = link_for(MALLORY)
    for _ in range(2):
        shown = client.get(page)
        assert shown.status_code == 200
        assert "Location" not in shown.headers
        assert MALLORY in shown.text
        assert 'method="post"' in shown.text
    set_cookie = shown.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    # Still unopened: the owner can go on with it.
    assert open_link(client, page).startswith(f"{forum.base_url}/session/sso_provider?")


def test_a_form_another_site_submits_is_refused(
    client: FlaskClient,  # noqa: F811
    forum: SandboxForum,
    store: Store,
    link_for: Callable[[UserID], str],
) -> None:
    page = link_for(MALLORY)
    # Mallory's site posts the form for a visitor: without porch's SameSite=Strict cookie.
    victim = other_browser(forum, store)
    for data in ({}, {"csrf": "guessed"}):
        refused = victim.post(page, data=data)
        assert refused.status_code == 403
        assert "Location" not in refused.headers
    # A cookie that does not match the form is refused too.
    client.get(page)
    assert client.post(page, data={"csrf": "guessed"}).status_code == 403
    # Nothing was used up.
    assert open_link(client, page)
    assert store.identities.by_matrix_user(MALLORY) is None


def test_an_answer_brought_back_by_another_browser_links_nobody(
    client: FlaskClient,  # noqa: F811
    forum: SandboxForum,
    store: Store,
    link_for: Callable[[UserID], str],
) -> None:
    # Mallory opens her own link and sends the forum URL it leads to on to Carol.
    forum.add_user("carol", name="Carol", groups=["staff-only"])
    forum_url = open_link(client, link_for(MALLORY))
    carol_at_forum = browser_as(forum, "carol")
    answered = carol_at_forum.get(forum_url, allow_redirects=False, timeout=10)
    assert answered.status_code == 302
    back = urlsplit(answered.headers["Location"])
    carol_at_porch = other_browser(forum, store)

    refused = carol_at_porch.get(f"{back.path}?{back.query}")

    assert refused.status_code == 400
    assert "another browser" in refused.text
    assert store.identities.by_matrix_user(MALLORY) is None
    assert store.inbox.rows() == []


def test_the_owner_still_links_in_one_browser(
    client: FlaskClient,  # noqa: F811
    forum: SandboxForum,
    store: Store,
    link_for: Callable[[UserID], str],
) -> None:
    forum_url = open_link(client, link_for(DANA))
    answered = browser_as(forum, "alice").get(forum_url, allow_redirects=False, timeout=10)
    back = urlsplit(answered.headers["Location"])
    done = client.get(f"{back.path}?{back.query}")
    assert done.status_code == 200, done.text
    identity = store.identities.by_matrix_user(DANA)
    assert identity is not None and identity.forum_username == "alice"


def test_cookies_follow_porchs_path_behind_a_proxy(forum: SandboxForum, store: Store) -> None:
    """With porch at ``https://host/porch`` (the proxy strips the prefix), the browser sees
    ``/porch/link/...``: the cookies must be scoped to that, and the form must post back to
    the page it is on."""
    public = "https://example.org/porch"
    config = make_config(
        discourse={"url": forum.base_url, "connect_secret": SECRET},
        listen={"public_url": public},
    )
    proxied = create_app(config, store).test_client()
    linking = Linking(store, config.discourse, public, time.time)
    token = linking.start(MALLORY, DM).rsplit("/", 1)[1]
    shown = proxied.get(f"/link/{token}")
    assert "Path=/porch/link/" in shown.headers["Set-Cookie"]
    assert f'action="{token}"' in shown.text
