"""The dashboard's forum sign-in only completes in the browser that started it.

Without that, a sign-in answer someone started (and the forum signed for them) could be handed
to another person, whose browser would then be signed in as the first (login CSRF): they
would read, and perhaps act, under someone else's name.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from flask.testing import FlaskClient

from bridges.store.store import Store
from sandbox.forum import SandboxForum
from tests.webhooks.test_dashboard import SECRET, dashboard_config
from webhooks.app import create_app
from webhooks.dashboard import COOKIE, NONCE_COOKIE


@pytest.fixture
def app_client(forum: SandboxForum, store: Store) -> FlaskClient:
    forum.sso.set_secret("porch.test", SECRET)
    forum.add_user("carol", groups=["policy-team"])
    return create_app(dashboard_config(forum.base_url), store).test_client()


def _answer_for(client: FlaskClient, forum: SandboxForum, username: str) -> str:
    browser = requests.Session()
    browser.post(f"{forum.base_url}/sandbox/login", data={"username": username}).raise_for_status()
    start = client.get("/watching/login")
    assert start.status_code == 302
    assert (
        "HttpOnly" in start.headers["Set-Cookie"] and NONCE_COOKIE in start.headers["Set-Cookie"]
    )
    answered = browser.get(start.headers["Location"], allow_redirects=False, timeout=10)
    back = urlsplit(answered.headers["Location"])
    return f"{back.path}?{back.query}"


def test_an_answer_brought_by_another_browser_signs_nobody_in(
    app_client: FlaskClient, forum: SandboxForum, store: Store
) -> None:
    answer = _answer_for(app_client, forum, "carol")
    other = create_app(dashboard_config(forum.base_url), store).test_client()

    refused = other.get(answer)

    assert refused.status_code == 400
    assert "another browser" in refused.get_data(as_text=True)
    assert other.get_cookie(COOKIE, path="/watching") is None
    assert other.get("/watching/").status_code == 401
    # The answer was not used up by the refusal: the browser that asked still signs in.
    assert app_client.get(answer).status_code == 303
    assert app_client.get("/watching/").status_code == 200
