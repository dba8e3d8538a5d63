"""Porch's linking pages with the forum double's DiscourseConnect provider over real HTTP.

A ``requests.Session`` plays the browser at the forum (its login cookie, its redirects); porch's
pages are served by its Flask app. Every refusal is a clear page and records nothing.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask.testing import FlaskClient

from bridges.identity.linking import Linking
from bridges.model import EventKind, RoomID, UserID
from bridges.store.store import Store
from sandbox.forum import SandboxForum
from tests.webhooks.configs import make_config
from webhooks.app import create_app
from webhooks.link_pages import RedactLinkPaths

SECRET = "connect-secret-for-tests"
PUBLIC = "https://porch.test"
DANA = UserID("@dana:porch.test")
DM = RoomID("!dm:porch.test")


@pytest.fixture
def client(forum: SandboxForum, store: Store) -> FlaskClient:
    forum.sso.set_secret("porch.test", SECRET)
    config = make_config(
        discourse={"url": forum.base_url, "connect_secret": SECRET},
        listen={"public_url": PUBLIC},
    )
    return create_app(config, store).test_client()


@pytest.fixture
def start(store: Store, client: FlaskClient) -> Callable[[], str]:
    """``!link`` as the bot does it: the path of a fresh page for Dana."""
    config = make_config(discourse={"url": "http://127.0.0.1:9", "connect_secret": SECRET})
    linking = Linking(store, config.discourse, PUBLIC, time.time)
    return lambda: urlsplit(linking.start(DANA, DM)).path


def browser_as(forum: SandboxForum, username: str) -> requests.Session:
    browser = requests.Session()
    response = browser.post(f"{forum.base_url}/sandbox/login", data={"username": username})
    response.raise_for_status()
    return browser


def open_link(client: FlaskClient, page: str) -> str:
    """Open ``page`` and press its button; the forum URL porch sends the browser to."""
    shown = client.get(page)
    assert shown.status_code == 200, shown.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', shown.text)
    assert csrf is not None, shown.text
    opened = client.post(page, data={"csrf": csrf.group(1)})
    assert opened.status_code == 303, opened.text
    return opened.headers["Location"]


def through_forum(client: FlaskClient, browser: requests.Session, page: str) -> str:
    """Open ``page`` and follow it to the forum; the path and query the forum sends back to."""
    answered = browser.get(open_link(client, page), allow_redirects=False, timeout=10)
    assert answered.status_code == 302, answered.text
    back = urlsplit(answered.headers["Location"])
    assert f"{back.scheme}://{back.netloc}" == PUBLIC
    return f"{back.path}?{back.query}"


def test_the_forum_confirms_who_is_linked(
    forum: SandboxForum, store: Store, client: FlaskClient, start: Callable[[], str]
) -> None:
    forum.add_user("carol", name="Carol", groups=["editors"])
    back = through_forum(client, browser_as(forum, "carol"), start())
    page = client.get(back)
    assert page.status_code == 200
    assert "text/html" in page.content_type
    assert "linked to the forum account carol" in page.text
    identity = store.identities.by_matrix_user(DANA)
    assert identity is not None
    assert identity.forum_username == "carol"
    assert identity.verified_via == "discourse-connect"
    assert identity.forum_user_id == forum._core.state.user_named("carol").id  # type: ignore[union-attr]
    groups = Linking(store, make_config().discourse, PUBLIC, time.time).groups.of(DANA)
    assert {"editors", "trust_level_1"} <= groups
    assert [row.kind for row in store.inbox.rows()] == [EventKind.IDENTITY_LINKED]


def test_the_page_sends_a_signed_request_for_porchs_return_page(
    forum: SandboxForum, client: FlaskClient, start: Callable[[], str]
) -> None:
    location = open_link(client, start())
    assert location.startswith(f"{forum.base_url}/session/sso_provider?")
    payload = parse_qs(urlsplit(location).query)["sso"][0]
    request = parse_qs(base64.b64decode(payload).decode())
    assert request["return_sso_url"] == [f"{PUBLIC}/link/return"]


def test_a_tampered_answer_is_refused_and_nothing_recorded(
    forum: SandboxForum, store: Store, client: FlaskClient, start: Callable[[], str]
) -> None:
    back = through_forum(client, browser_as(forum, "alice"), start())
    query = parse_qs(urlsplit(back).query)
    fields = parse_qs(base64.b64decode(query["sso"][0]).decode())
    # The same answer naming another member, with the forum's signature kept.
    fields["username"], fields["external_id"] = ["bob"], ["3"]
    forged = base64.b64encode(urlencode({k: v[0] for k, v in fields.items()}).encode()).decode()
    for sso, sig in ((forged, query["sig"][0]), (query["sso"][0], "0" * 64)):
        page = client.get("/link/return?" + urlencode({"sso": sso, "sig": sig}))
        assert page.status_code == 400
        assert "not signed with the secret porch shares" in page.text
    assert store.identities.by_matrix_user(DANA) is None
    assert store.inbox.rows() == []


def test_a_replayed_answer_is_refused(
    forum: SandboxForum, store: Store, client: FlaskClient, start: Callable[[], str]
) -> None:
    back = through_forum(client, browser_as(forum, "alice"), start())
    assert client.get(back).status_code == 200
    store.identities.unlink(DANA)
    replay = client.get(back)
    assert replay.status_code == 400
    assert "already used" in replay.text
    assert store.identities.by_matrix_user(DANA) is None
    assert len(store.inbox.rows()) == 1


def test_a_link_page_opens_once(client: FlaskClient, start: Callable[[], str]) -> None:
    page = start()
    open_link(client, page)
    again = client.get(page)
    assert again.status_code == 410
    assert "send !link to the bot again" in again.text
    assert client.get("/link/not-a-token").status_code == 410


def test_a_visitor_not_logged_in_is_sent_to_the_forum_login(
    forum: SandboxForum, store: Store, client: FlaskClient, start: Callable[[], str]
) -> None:
    location = open_link(client, start())
    answered = requests.get(location, allow_redirects=False, timeout=10)
    assert answered.status_code == 302
    assert answered.headers["Location"].endswith("/login")
    assert store.identities.by_matrix_user(DANA) is None


def test_without_a_secret_the_pages_say_linking_is_off(store: Store) -> None:
    client = create_app(make_config(), store).test_client()
    page = client.get("/link/some-token")
    assert page.status_code == 404
    assert "not enabled" in page.text
    assert client.get("/link/return?sso=x&sig=y").status_code == 404


def test_the_forum_refuses_a_request_porch_did_not_sign(
    forum: SandboxForum, client: FlaskClient, start: Callable[[], str]
) -> None:
    location = open_link(client, start())
    query = parse_qs(urlsplit(location).query)
    browser = browser_as(forum, "alice")
    forged = f"{forum.base_url}/session/sso_provider?" + urlencode(
        {"sso": query["sso"][0], "sig": "0" * 64}
    )
    answered = browser.get(forged, allow_redirects=False, timeout=10)
    assert answered.status_code == 422
    assert "Location" not in answered.headers


def test_the_access_log_shows_neither_tokens_nor_the_forums_answer() -> None:
    line = "\x1b[31mGET /link/return?sso=bm9uY2U9&sig=8af7 HTTP/1.1\x1b[0m"
    record = logging.LogRecord(
        "werkzeug", logging.INFO, "", 0, '"%s" %s %s', (line, "400", "-"), None
    )
    RedactLinkPaths().filter(record)
    assert record.getMessage() == '"\x1b[31mGET /link/[redacted] HTTP/1.1\x1b[0m" 400 -'
    token = logging.LogRecord(
        "werkzeug", logging.INFO, "", 0, '"%s"', ("GET /link/abc HTTP/1.1",), None
    )
    RedactLinkPaths().filter(token)
    assert "abc" not in token.getMessage()
