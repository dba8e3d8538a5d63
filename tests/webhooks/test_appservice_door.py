"""The application-service endpoints: the homeserver's token, transactions recorded once."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bridges import codec
from bridges.model import ChatMessage, ChatReaction, ChatRedaction, EventKind, UserID
from bridges.store.profiles import Ghost
from bridges.store.store import Store
from tests.webhooks.configs import BOT, HS_TOKEN, make_config
from webhooks.app import create_app

ROOM = "!room:porch.test"
AUTH = {"Authorization": f"Bearer {HS_TOKEN}"}


@pytest.fixture
def woken() -> list[int]:
    return []


@pytest.fixture
def client(store: Store, woken: list[int]) -> FlaskClient:
    app = create_app(make_config(), store, clock=lambda: 5.0, on_accepted=lambda: woken.append(1))
    return app.test_client()


def event(
    event_id: str, sender: str = "@carol:porch.test", content: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "event_id": event_id,
        "room_id": ROOM,
        "sender": sender,
        "origin_server_ts": 1,
        "content": content or {"msgtype": "m.text", "body": f"message {event_id}"},
    }


def put(client: FlaskClient, txn: str, events: list[Any], **kwargs: Any) -> TestResponse:
    kwargs.setdefault("headers", AUTH)
    return client.put(f"/_matrix/app/v1/transactions/{txn}", json={"events": events}, **kwargs)


def payloads(store: Store) -> list[Any]:
    return [codec.decode(r.kind, r.payload) for r in store.inbox.rows()]


# --- authentication ---------------------------------------------------------------------------


def test_a_wrong_token_is_forbidden_and_records_nothing(
    client: FlaskClient, store: Store, woken: list[int]
) -> None:
    response = put(client, "1", [event("$a")], headers={"Authorization": "Bearer nope"})
    assert response.status_code == 403
    assert response.json is not None and response.json["errcode"] == "M_FORBIDDEN"
    assert store.inbox.rows() == [] and woken == []
    # The transaction id was not spent: the homeserver's retry with the right token counts.
    assert put(client, "1", [event("$a")]).status_code == 200
    assert len(store.inbox.rows()) == 1


def test_a_missing_token_is_unauthorized(client: FlaskClient, store: Store) -> None:
    for response in (
        put(client, "1", [event("$a")], headers={}),
        put(client, "1", [event("$a")], headers={"Authorization": f"Basic {HS_TOKEN}"}),
        client.post("/_matrix/app/v1/ping", json={}),
        client.get("/_matrix/app/v1/users/@forum_x:porch.test"),
    ):
        assert response.status_code == 401
        assert response.json is not None and response.json["errcode"] == "M_UNAUTHORIZED"
    assert store.inbox.rows() == []


def test_the_legacy_query_token(client: FlaskClient, store: Store) -> None:
    ok = put(client, "1", [event("$a")], headers={}, query_string={"access_token": HS_TOKEN})
    assert ok.status_code == 200
    wrong = client.post("/_matrix/app/v1/ping?access_token=nope", json={})
    assert wrong.status_code == 403
    differ = client.post(
        "/_matrix/app/v1/ping", json={}, headers=AUTH, query_string={"access_token": "other"}
    )
    assert differ.status_code == 403 and differ.json["errcode"] == "M_FORBIDDEN"  # type: ignore[index]
    assert len(store.inbox.rows()) == 1


# --- transactions -----------------------------------------------------------------------------


def test_a_transaction_is_recorded_and_a_retry_is_acknowledged_once(
    client: FlaskClient, store: Store, woken: list[int]
) -> None:
    events = [event("$a"), event("$b")]
    first = put(client, "17", events)
    assert first.status_code == 200 and first.json == {}
    again = put(client, "17", events)
    assert again.status_code == 200 and again.json == {}
    rows = store.inbox.rows()
    assert [r.conversation for r in rows] == [f"matrix:room:{ROOM}"] * 2
    assert [p.event_id for p in payloads(store)] == ["$a", "$b"]
    assert rows[0].received_at == 5.0
    assert woken == [1]


def test_an_event_seen_in_an_earlier_transaction_is_not_recorded_twice(
    client: FlaskClient, store: Store
) -> None:
    put(client, "1", [event("$a")])
    put(client, "2", [event("$a"), event("$b")])
    assert [p.event_id for p in payloads(store)] == ["$a", "$b"]


def test_a_transaction_id_reused_for_new_events_records_them(
    client: FlaskClient, store: Store, woken: list[int]
) -> None:
    # A restarted Synapse on SQLite numbers its transactions from 1 again: the same ids now
    # carry new messages, which must not be taken for retries.
    put(client, "1", [event("$a")])
    put(client, "2", [event("$b")])
    again = put(client, "1", [event("$c"), event("$d")])
    assert again.status_code == 200
    put(client, "2", [event("$e")])
    assert [p.event_id for p in payloads(store)] == ["$a", "$b", "$c", "$d", "$e"]
    assert len(woken) == 4


def test_porchs_ghosts_and_bot_are_dropped_at_the_door(
    client: FlaskClient, store: Store, woken: list[int]
) -> None:
    events = [
        event("$ghost", sender="@forum_alice:porch.test"),
        event("$bot", sender=BOT),
        event("$other_server_ghost", sender="@forum_alice:elsewhere.test"),
        event("$carol"),
    ]
    assert put(client, "1", events).status_code == 200
    assert [p.event_id for p in payloads(store)] == ["$other_server_ghost", "$carol"]
    only_ours = put(client, "2", [event("$g2", sender="@forum_bob:porch.test")])
    assert only_ours.status_code == 200
    assert woken == [1]


def test_state_events_are_not_recorded(client: FlaskClient, store: Store) -> None:
    member = {
        **event("$m"),
        "type": "m.room.member",
        "state_key": "@carol:porch.test",
        "content": {"membership": "join"},
    }
    topic = {**event("$t"), "type": "m.room.topic", "state_key": "", "content": {"topic": "x"}}
    assert put(client, "1", [member, topic]).status_code == 200
    assert store.inbox.rows() == []


def test_threads_edits_redactions_and_reactions_are_recorded(
    client: FlaskClient, store: Store
) -> None:
    thread_reply = event(
        "$reply",
        content={
            "msgtype": "m.text",
            "body": "> <@forum_alice:porch.test> the post\n\nmy answer",
            "format": "org.matrix.custom.html",
            "formatted_body": "<mx-reply><blockquote>the post</blockquote></mx-reply>my answer",
            "m.relates_to": {
                "rel_type": "m.thread",
                "event_id": "$root",
                "m.in_reply_to": {"event_id": "$post"},
                "is_falling_back": False,
            },
        },
    )
    edit = event(
        "$edit",
        content={
            "msgtype": "m.text",
            "body": "* my better answer",
            "m.new_content": {"msgtype": "m.text", "body": "my better answer"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$reply"},
        },
    )
    redaction_v11 = {
        **event("$red1"),
        "type": "m.room.redaction",
        "content": {"redacts": "$edit", "reason": "oops"},
    }
    redaction_old = {
        **event("$red2"),
        "type": "m.room.redaction",
        "redacts": "$reply",
        "content": {},
    }
    reaction = {
        **event("$like"),
        "type": "m.reaction",
        "content": {
            "m.relates_to": {"rel_type": "m.annotation", "event_id": "$root", "key": "👍"}
        },
    }
    assert (
        put(client, "1", [thread_reply, edit, redaction_v11, redaction_old, reaction]).json == {}
    )
    kinds = [r.kind for r in store.inbox.rows()]
    assert kinds == [EventKind.CHAT_MESSAGE] * 2 + [EventKind.CHAT_REDACTION] * 2 + [
        EventKind.CHAT_REACTION
    ]
    reply, changed, red1, red2, like = payloads(store)
    assert isinstance(reply, ChatMessage)
    assert (reply.thread_root, reply.in_reply_to) == ("$root", "$post")
    assert (reply.body, reply.formatted_body) == ("my answer", "my answer")
    assert isinstance(changed, ChatMessage)
    assert (changed.replaces, changed.body) == ("$reply", "my better answer")
    assert isinstance(red1, ChatRedaction) and (red1.redacts, red1.reason) == ("$edit", "oops")
    assert isinstance(red2, ChatRedaction) and red2.redacts == "$reply"
    assert isinstance(like, ChatReaction) and (like.relates_to, like.key) == ("$root", "👍")


def test_malformed_transactions_are_refused(client: FlaskClient, store: Store) -> None:
    not_json = client.put(
        "/_matrix/app/v1/transactions/1",
        data=b"{nope",
        headers=AUTH,
        content_type="application/json",
    )
    assert not_json.status_code == 400 and not_json.json["errcode"] == "M_NOT_JSON"  # type: ignore[index]
    no_events = client.put("/_matrix/app/v1/transactions/1", json={"ephemeral": []}, headers=AUTH)
    assert no_events.status_code == 400 and no_events.json["errcode"] == "M_BAD_JSON"  # type: ignore[index]
    # Neither spent the transaction id.
    assert put(client, "1", [event("$a")]).status_code == 200
    assert len(store.inbox.rows()) == 1


def test_a_store_failure_is_500_and_the_retry_is_recorded(
    client: FlaskClient, store: Store
) -> None:
    with store.db.begin() as conn:
        conn.execute(sa.text("ALTER TABLE inbox RENAME TO inbox_away"))
    failed = put(client, "9", [event("$a")])
    assert failed.status_code == 500 and failed.json["errcode"] == "M_UNKNOWN"  # type: ignore[index]
    with store.db.begin() as conn:
        conn.execute(sa.text("ALTER TABLE inbox_away RENAME TO inbox"))
    assert put(client, "9", [event("$a")]).status_code == 200
    assert [p.event_id for p in payloads(store)] == ["$a"]


def test_the_legacy_transaction_route(client: FlaskClient, store: Store) -> None:
    response = client.put("/transactions/3", json={"events": [event("$a")]}, headers=AUTH)
    assert response.status_code == 200 and response.json == {}
    assert put(client, "3", [event("$a")]).status_code == 200
    assert len(store.inbox.rows()) == 1


# --- ping, queries, unknown routes ------------------------------------------------------------


def test_ping(client: FlaskClient) -> None:
    response = client.post("/_matrix/app/v1/ping", json={"transaction_id": "t"}, headers=AUTH)
    assert response.status_code == 200 and response.json == {}


def test_user_queries_confirm_only_known_ghosts(client: FlaskClient, store: Store) -> None:
    ghost = "@forum_alice:porch.test"
    for prefix in ("/_matrix/app/v1", ""):
        unknown = client.get(f"{prefix}/users/{ghost}", headers=AUTH)
        assert unknown.status_code == 404 and unknown.json["errcode"] == "M_NOT_FOUND"  # type: ignore[index]
    store.profiles.save_ghost(Ghost(UserID(ghost), "Alice (forum)", None, None), now=1.0)
    for prefix in ("/_matrix/app/v1", ""):
        assert client.get(f"{prefix}/users/{ghost}", headers=AUTH).status_code == 200
    outside = client.get("/_matrix/app/v1/users/@carol:porch.test", headers=AUTH)
    assert outside.status_code == 404


def test_room_queries_are_not_found(client: FlaskClient) -> None:
    for path in ("/_matrix/app/v1/rooms/%23town:porch.test", "/rooms/%23town:porch.test"):
        response = client.get(path, headers=AUTH)
        assert response.status_code == 404 and response.json["errcode"] == "M_NOT_FOUND"  # type: ignore[index]


def test_unknown_routes_and_methods_are_unrecognized(client: FlaskClient) -> None:
    unknown = client.get("/_matrix/app/v1/thirdparty/protocol/irc", headers=AUTH)
    assert unknown.status_code == 404
    assert unknown.json is not None and unknown.json["errcode"] == "M_UNRECOGNIZED"
    method = client.get("/_matrix/app/v1/transactions/1", headers=AUTH)
    assert method.status_code == 405
    assert method.json is not None and method.json["errcode"] == "M_UNRECOGNIZED"


def test_a_malformed_event_is_skipped_and_audited_and_the_rest_is_recorded(
    client: FlaskClient, store: Store, woken: list[int]
) -> None:
    """One odd event must not make the homeserver resend the transaction forever: the answer
    is 200, the good events are recorded, the odd ones are on record as refused."""
    odd_type = {**event("$odd"), "type": ["m.room.message"]}  # unhashable: was a 500
    huge = event("$huge")
    huge["origin_server_ts"] = 2**64
    long_room = {**event("$long"), "room_id": "!" + "r" * 300 + ":porch.test"}
    bad_relation = event("$rel", content={"msgtype": "m.text", "body": "x", "m.relates_to": 5})
    events = ["not an event", odd_type, event("$a"), huge, long_room, bad_relation, event("$b")]
    response = put(client, "7", events)
    assert response.status_code == 200
    assert [p.event_id for p in payloads(store)] == ["$a", "$b"]
    assert woken == [1]
    refused = [e for e in store.audit.entries() if e.rule == "malformed-event"]
    assert [e.outcome for e in refused] == ["refused"] * 5
    details = " | ".join(e.detail or "" for e in refused)
    assert (
        "event $odd in !room:porch.test (transaction 7) skipped: type is not a string" in details
    )
    assert "$huge" in details and "integer out of range" in details
    assert "room_id is longer than 255 bytes" in details
    assert "m.relates_to is not an object" in details
    assert {e.actor for e in refused} == {"homeserver", "@carol:porch.test"}


def test_bodies_python_cannot_read_are_400_not_500(client: FlaskClient, store: Store) -> None:
    for body in (b'{"events": [' * 5000, b'{"events": [1' + b"0" * 5000 + b"]}", b"\xff"):
        response = client.put(
            "/_matrix/app/v1/transactions/1",
            data=body,
            headers=AUTH,
            content_type="application/json",
        )
        assert response.status_code == 400, body[:20]
    too_long = put(client, "t" * 300, [event("$a")])
    assert too_long.status_code == 400 and too_long.json["errcode"] == "M_INVALID_PARAM"  # type: ignore[index]
    assert store.inbox.rows() == []
