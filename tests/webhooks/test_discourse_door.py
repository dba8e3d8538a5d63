"""POST /discourse/webhook: signed deliveries are recorded once; anything else leaves no trace."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bridges import codec
from bridges.model import EventKind, ForumPost
from bridges.store.store import Store
from tests.webhooks.configs import WEBHOOK_SECRET, make_config
from webhooks.app import create_app
from webhooks.discourse import signature, signature_matches

DATA = Path(__file__).resolve().parents[1] / "data" / "discourse"


def post_body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "post.json").read_text())
    data["post"].update(changes)
    return data


class Forum:
    """Sends webhooks the way Discourse does: headers, signature over the exact body."""

    def __init__(self, client: FlaskClient, secret: str = WEBHOOK_SECRET) -> None:
        self.client = client
        self.secret = secret

    def deliver(
        self,
        event: str | None,
        body: dict[str, Any] | bytes,
        *,
        delivery: str | None = "1",
        event_type: str | None = None,
        sign: bool = True,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> TestResponse:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"X-Discourse-Instance": "http://forum.test"}
        if event is not None:
            sent["X-Discourse-Event"] = event
            sent["X-Discourse-Event-Type"] = event_type or event.split("_", 1)[0]
        if delivery is not None:
            sent["X-Discourse-Event-Id"] = delivery
        if sign:
            sent["X-Discourse-Event-Signature"] = signature(self.secret, raw)
        sent.update(headers or {})
        return self.client.post(
            "/discourse/webhook", data=raw, headers=sent, content_type=content_type
        )


@pytest.fixture
def recorded() -> list[int]:
    return []


@pytest.fixture
def forum(store: Store, recorded: list[int]) -> Forum:
    app = create_app(
        make_config(discourse={"max_body_bytes": 64 * 1024}),
        store,
        clock=lambda: 1000.0,
        on_accepted=lambda: recorded.append(1),
    )
    return Forum(app.test_client())


def test_the_reference_signature_vector() -> None:
    body = b'{"ping":"OK"}'
    expected = "sha256=162f107f6b5022353274eb1a7197885cfd35744d8d08e5bcea025d309386b7d6"
    assert signature("my_lovely_secret_for_web_hook", body) == expected
    assert signature_matches("my_lovely_secret_for_web_hook", body, expected)
    upper_hex = "sha256=" + expected.removeprefix("sha256=").upper()
    assert signature_matches("my_lovely_secret_for_web_hook", body, upper_hex)
    assert not signature_matches("my_lovely_secret_for_web_hook", body + b" ", expected)
    assert not signature_matches("another_secret_for_web_hook", body, expected)


def test_a_signed_post_is_recorded(forum: Forum, store: Store, recorded: list[int]) -> None:
    response = forum.deliver("post_created", post_body(), delivery="901")
    assert response.status_code == 200
    assert response.json == {"recorded": True}
    (row,) = store.inbox.rows()
    assert row.kind is EventKind.POST_CREATED
    assert row.conversation == "discourse:topic:77"
    assert row.received_at == 1000.0
    post = codec.decode(row.kind, row.payload)
    assert isinstance(post, ForumPost) and post.raw.startswith("Hello **porch**")
    assert recorded == [1]


def test_the_form_content_type_still_carries_json(forum: Forum, store: Store) -> None:
    response = forum.deliver(
        "post_created", post_body(), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200 and response.json == {"recorded": True}
    assert len(store.inbox.rows()) == 1


def test_a_wrong_signature_is_refused_and_leaves_no_trace(
    forum: Forum, store: Store, recorded: list[int]
) -> None:
    wrong = Forum(forum.client, secret="not-the-webhook-secret")
    response = wrong.deliver("post_created", post_body())
    assert response.status_code == 403
    assert response.json == {
        "error": "X-Discourse-Event-Signature does not match the body "
        "(check discourse.webhook_secret)"
    }
    garbled = forum.deliver(
        "post_created",
        post_body(),
        sign=False,
        headers={"X-Discourse-Event-Signature": "sha1=abc"},
    )
    assert garbled.status_code == 403
    assert store.inbox.rows() == [] and recorded == []


def test_a_body_changed_after_signing_is_refused(forum: Forum, store: Store) -> None:
    raw = json.dumps(post_body()).encode()
    tampered = raw.replace(b"Hello", b"Hullo")
    response = forum.deliver(
        "post_created",
        tampered,
        sign=False,
        headers={"X-Discourse-Event-Signature": signature(WEBHOOK_SECRET, raw)},
    )
    assert response.status_code == 403
    assert store.inbox.rows() == []


def test_a_missing_signature_is_refused(forum: Forum, store: Store) -> None:
    response = forum.deliver("post_created", post_body(), sign=False)
    assert response.status_code == 401
    assert response.json == {"error": "missing X-Discourse-Event-Signature header"}
    assert store.inbox.rows() == []


def test_signed_garbage_is_a_bad_request(forum: Forum, store: Store) -> None:
    response = forum.deliver("post_created", b'{"post": {"id": 1')
    assert response.status_code == 400
    assert response.json is not None and "not valid JSON" in response.json["error"]
    array = forum.deliver("post_created", b"[1, 2]")
    assert array.status_code == 400
    assert array.json == {"error": "the body must be a JSON object, not list"}
    assert store.inbox.rows() == []


def test_a_payload_without_a_needed_field_names_it(forum: Forum, store: Store) -> None:
    body = post_body()
    del body["post"]["topic_id"]
    response = forum.deliver("post_created", body)
    assert response.status_code == 400
    assert response.json == {"error": "post.topic_id: is required"}
    wrong_type = forum.deliver("post_created", post_body(id="412"))
    assert wrong_type.json == {"error": "post.id: expected an integer"}
    assert store.inbox.rows() == []


def test_the_root_key_must_match_the_event_type(forum: Forum, store: Store) -> None:
    response = forum.deliver("post_created", post_body(), event_type="topic")
    assert response.status_code == 400
    assert "X-Discourse-Event-Type" in response.json["error"]  # type: ignore[index]
    wrong_root = forum.deliver("post_edited", {"topic": post_body()["post"]})
    assert wrong_root.status_code == 400
    assert "'post' object" in wrong_root.json["error"]  # type: ignore[index]
    assert store.inbox.rows() == []


def test_a_missing_event_name_is_named(forum: Forum, store: Store) -> None:
    response = forum.deliver(None, post_body(), headers={"X-Discourse-Event-Type": "post"})
    assert response.status_code == 400
    assert "X-Discourse-Event header" in response.json["error"]  # type: ignore[index]
    assert store.inbox.rows() == []


def test_ping_answers_pong(forum: Forum, store: Store) -> None:
    response = forum.deliver("ping", {"ping": "OK"}, event_type="ping")
    assert response.status_code == 200
    assert response.json == {"ok": True, "ping": "pong"}
    assert store.inbox.rows() == []


@pytest.mark.parametrize(
    ("event", "body"),
    [
        ("topic_created", {"topic": {"id": 1, "title": "t"}}),
        ("user_created", {"user": {"id": 3, "username": "z"}}),
        ("something_new", {"something": {}}),
    ],
)
def test_events_porch_does_not_carry_are_acknowledged(
    forum: Forum, store: Store, recorded: list[int], event: str, body: dict[str, Any]
) -> None:
    response = forum.deliver(event, body)
    assert response.status_code == 200
    assert response.json == {"ignored": event}
    assert store.inbox.rows() == [] and recorded == []


def test_an_oversized_body_is_refused(forum: Forum, store: Store) -> None:
    big = post_body(raw="x" * (65 * 1024))
    response = forum.deliver("post_created", big)
    assert response.status_code == 413
    assert response.json is not None and "larger than porch accepts" in response.json["error"]
    assert store.inbox.rows() == []


def test_a_redelivery_is_recorded_once(forum: Forum, store: Store, recorded: list[int]) -> None:
    first = forum.deliver("post_created", post_body(), delivery="42")
    again = forum.deliver("post_created", post_body(), delivery="42")
    assert first.json == {"recorded": True}
    assert again.status_code == 200 and again.json == {"duplicate": True}
    assert len(store.inbox.rows()) == 1
    assert recorded == [1]


def test_a_retry_under_a_new_delivery_id_is_recorded_once(forum: Forum, store: Store) -> None:
    assert forum.deliver("post_edited", post_body(version=2), delivery="50").json == {
        "recorded": True
    }
    assert forum.deliver("post_edited", post_body(version=2), delivery="51").json == {
        "duplicate": True
    }
    assert forum.deliver("post_edited", post_body(version=3), delivery="52").json == {
        "recorded": True
    }
    versions = [codec.decode(r.kind, r.payload).version for r in store.inbox.rows()]  # type: ignore[union-attr]
    assert versions == [2, 3]


def test_a_store_failure_is_503_and_a_redelivery_is_recorded(
    forum: Forum, store: Store, recorded: list[int]
) -> None:
    # A real failure of the real store: the inbox table is away, as in a broken database.
    with store.db.begin() as conn:
        conn.execute(sa.text("ALTER TABLE inbox RENAME TO inbox_away"))
    failed = forum.deliver("post_created", post_body(), delivery="77")
    assert failed.status_code == 503
    assert failed.json is not None and "nothing was recorded" in failed.json["error"]
    with store.db.begin() as conn:
        conn.execute(sa.text("ALTER TABLE inbox_away RENAME TO inbox"))
        keys = conn.execute(sa.text("SELECT count(*) FROM inbox_keys")).scalar()
    assert keys == 0 and store.inbox.rows() == [] and recorded == []
    redelivered = forum.deliver("post_created", post_body(), delivery="77")
    assert redelivered.json == {"recorded": True}
    assert len(store.inbox.rows()) == 1


def test_an_unexpected_content_type_is_refused(forum: Forum, store: Store) -> None:
    response = forum.deliver("post_created", post_body(), content_type="text/plain")
    assert response.status_code == 415
    assert response.json is not None and "application/json" in response.json["error"]
    assert store.inbox.rows() == []


def test_unlisting_a_topic_is_recorded(forum: Forum, store: Store) -> None:
    topic = json.loads((DATA / "topic.json").read_text())
    topic["topic"]["visible"] = False
    response = forum.deliver("topic_visible_status_updated", topic)
    assert response.json == {"recorded": True}
    (row,) = store.inbox.rows()
    assert row.kind is EventKind.TOPIC_EDITED and row.conversation == "discourse:topic:77"


def test_signed_bodies_porch_cannot_store_are_400_not_5xx(forum: Forum, store: Store) -> None:
    """Ids past the store's 64 bits, numbers Python will not read, NaN, NUL, nesting past the
    recursion limit, a delivery id longer than its column: each is refused as bad input, so
    the forum's webhook page says why, instead of porch answering as if its store were down."""
    huge_id = post_body(id=2**63)
    cases: list[tuple[dict[str, Any] | bytes, str | None, str]] = [
        (huge_id, "1", "post.id: the number is out of range (64-bit)"),
        (post_body(topic_id=-(2**64)), "2", "post.topic_id: the number is out of range"),
        (post_body(post_number=2**40), "3", "post.post_number"),
        (post_body(raw="a\x00b"), "4", "post.raw: the text contains a NUL character"),
        (post_body(score=float("nan")), "5", "post.score: the number is not finite"),
        (b'{"post": {"id": 1' + b"1" * 5000 + b"}}", "6", "more digits"),
        (b'{"post": ' + b"[" * 5000 + b"]" * 5000 + b"}", "7", "nested too deeply"),
        (post_body(id=999), "9" * 300, "porch's store cannot hold this event"),
    ]
    for body, delivery, reason in cases:
        response = forum.deliver("post_created", body, delivery=delivery)
        assert response.status_code == 400, (reason, response.status_code)
        assert response.json is not None and reason in response.json["error"], response.json
    assert store.inbox.rows() == []


def test_what_a_caller_sends_is_logged_short_and_printable(
    forum: Forum, caplog: pytest.LogCaptureFixture
) -> None:
    # Anyone may send the delivery header, signed or not; a long or odd one must not flood the
    # log or write terminal escapes into it.
    long_id = "9" * 5000
    with caplog.at_level(logging.INFO, logger="webhooks.discourse"):
        assert (
            forum.deliver("post_created", post_body(), delivery=long_id, sign=False).status_code
            == 401
        )
        escape = "x\x1b[31mred"
        assert forum.deliver("post_created", b"[1]", delivery=escape).status_code == 400
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert all(len(line) < 400 for line in lines), lines
    assert "(5000 characters)" in lines[0]
    assert "\x1b" not in lines[1] and "\\x1b[31mred" in lines[1]
