"""Porch's ``/review`` page: who may see it, CSRF-safe decisions, the moderator's name recorded."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from bridges.model import EventKind
from bridges.store.review import APPROVED, PENDING, REJECTED, HeldItem, NewHeld
from bridges.store.store import Store
from tests.webhooks.configs import make_config
from webhooks.app import create_app
from webhooks.review_pages import COOKIE

MONA = "mona-token-" + "m" * 32
OLAF = "olaf-token-" + "o" * 32


@pytest.fixture
def woken() -> list[int]:
    return []


@pytest.fixture
def client(store: Store, woken: list[int]) -> FlaskClient:
    config = make_config(moderation={"review": {"moderators": {"mona": MONA, "olaf": OLAF}}})
    app = create_app(config, store, on_accepted=lambda: woken.append(1))
    return app.test_client()


def hold(store: Store, preview: str = "A bench by the library", n: int = 1) -> HeldItem:
    return store.review.hold(
        NewHeld(
            inbox_id=n,
            link="town",
            subject=f"post:{n}",
            direction="forum-to-chat",
            kind=EventKind.POST_CREATED.value,
            payload="{}",
            author="alice",
            preview=preview,
            rule="policy:held/forum-to-chat",
            policy_version="v1",
            reason="the policy holds it for approval",
        ),
        100.0,
    )


def signed_in(client: FlaskClient, token: str = MONA) -> str:
    """Sign in; the CSRF token of the page."""
    answer = client.post("/review/login", data={"token": token}, follow_redirects=True)
    assert answer.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', answer.get_data(as_text=True))
    assert found is not None
    return found.group(1)


def test_the_page_needs_a_moderator(client: FlaskClient, store: Store) -> None:
    hold(store)
    answer = client.get("/review")
    assert answer.status_code == 401
    assert "A bench" not in answer.get_data(as_text=True)
    refused = client.post("/review/login", data={"token": "x" * 43})
    assert refused.status_code == 403 and COOKIE not in refused.headers.get("Set-Cookie", "")
    assert client.post("/review/1/approve").status_code == 401


def test_a_signed_in_moderator_sees_held_messages_escaped(
    client: FlaskClient, store: Store
) -> None:
    hold(store, "<script>alert(1)</script> & friends")
    answer = client.post("/review/login", data={"token": MONA})
    assert answer.status_code == 303
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/review" in cookie
    page = client.get("/review")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Signed in as mona" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in text
    assert "<script>" not in text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_a_decision_needs_the_pages_csrf_token(
    client: FlaskClient, store: Store, woken: list[int]
) -> None:
    item = hold(store)
    csrf = signed_in(client)
    assert client.post(f"/review/{item.id}/approve").status_code == 403
    assert client.post(f"/review/{item.id}/approve", data={"csrf": "0" * 64}).status_code == 403
    latest = store.review.get(item.id)
    assert latest is not None and latest.state == PENDING and not woken

    answer = client.post(f"/review/{item.id}/approve", data={"csrf": csrf})
    assert answer.status_code == 200 and f"#{item.id} approved" in answer.get_data(as_text=True)
    latest = store.review.get(item.id)
    assert latest is not None and (latest.state, latest.decided_by) == (APPROVED, "mona")
    (entry,) = store.audit.entries()
    assert (entry.outcome, entry.actor) == ("approved", "mona")
    (row,) = store.inbox.rows()
    assert row.kind is EventKind.REVIEW_DECIDED
    assert woken == [1], "the worker is told at once"


def test_one_moderators_csrf_token_is_not_anothers(client: FlaskClient, store: Store) -> None:
    item = hold(store)
    mona_csrf = signed_in(client, MONA)
    signed_in(client, OLAF)
    answer = client.post(f"/review/{item.id}/reject", data={"csrf": mona_csrf})
    assert answer.status_code == 403


def test_a_rejection_keeps_its_reason_and_a_second_decision_changes_nothing(
    client: FlaskClient, store: Store
) -> None:
    item = hold(store)
    csrf = signed_in(client)
    client.post(f"/review/{item.id}/reject", data={"csrf": csrf, "note": "off topic"})
    again = client.post(f"/review/{item.id}/approve", data={"csrf": csrf})
    assert "was decided already (rejected by mona)" in again.get_data(as_text=True)
    latest = store.review.get(item.id)
    assert latest is not None and (latest.state, latest.decision_note) == (REJECTED, "off topic")
    assert len(store.audit.entries()) == 1


def test_a_script_may_use_a_bearer_token(client: FlaskClient, store: Store) -> None:
    item = hold(store)
    headers = {"Authorization": f"Bearer {OLAF}"}
    assert client.get("/review", headers=headers).status_code == 200
    answer = client.post(f"/review/{item.id}/approve", headers=headers)
    assert answer.status_code == 200
    latest = store.review.get(item.id)
    assert latest is not None and latest.decided_by == "olaf"
    wrong = {"Authorization": "Bearer " + "x" * 43}
    assert client.get("/review", headers=wrong).status_code == 401


def test_a_forged_session_cookie_is_refused(client: FlaskClient, store: Store) -> None:
    hold(store)
    signed_in(client)
    client.set_cookie(COOKIE, "olaf.9999999999." + "0" * 64, path="/review")
    assert client.get("/review").status_code == 401


def test_signing_out_ends_the_session(client: FlaskClient, store: Store) -> None:
    csrf = signed_in(client)
    out = client.post("/review/logout", data={"csrf": csrf})
    assert out.status_code == 303
    assert client.get("/review").status_code == 401


def test_without_moderators_there_is_no_page(store: Store) -> None:
    client = create_app(make_config(), store).test_client()
    assert client.get("/review").status_code == 404


def test_moderator_tokens_must_be_long_and_distinct() -> None:
    import yaml

    from tests.webhooks.configs import config_data
    from webhooks.config import ConfigError, parse_config

    short = config_data(moderation={"review": {"moderators": {"mona": "short"}}})
    with pytest.raises(ConfigError, match=r"moderation\.review\.moderators"):
        parse_config(yaml.safe_dump(short))
    same = config_data(moderation={"review": {"moderators": {"a": MONA, "b": MONA}}})
    with pytest.raises(ConfigError, match="a token of their own"):
        parse_config(yaml.safe_dump(same))
    room = config_data(moderation={"review": {"room": "moderators"}})
    with pytest.raises(ConfigError, match=r"moderation\.review\.room"):
        parse_config(yaml.safe_dump(room))
