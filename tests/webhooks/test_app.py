"""The HTTP face as a whole: health, and JSON (never HTML) for every error."""

from __future__ import annotations

from pathlib import Path

from bridges.store.db import Database
from bridges.store.store import Store
from tests.webhooks.configs import HS_TOKEN, make_config
from webhooks.app import create_app


def test_healthz_answers_while_the_store_does(store: Store) -> None:
    client = create_app(make_config(), store).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_healthz_fails_when_the_store_does_not_answer(tmp_path: Path) -> None:
    # A real store whose database cannot be opened: its directory does not exist.
    broken = Store(Database(f"sqlite:///{tmp_path / 'missing' / 'porch.db'}"))
    client = create_app(make_config(), broken).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "error": "the store does not answer"}
    broken.close()


def test_errors_outside_the_matrix_routes_are_json(store: Store) -> None:
    client = create_app(make_config(), store).test_client()
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.content_type == "application/json"
    assert missing.json == {"error": "no such endpoint: /nowhere"}
    method = client.get("/discourse/webhook")
    assert method.status_code == 405
    assert method.json == {"error": "GET is not allowed on /discourse/webhook"}


def test_a_transaction_may_be_larger_than_a_forum_webhook(store: Store) -> None:
    client = create_app(make_config(discourse={"max_body_bytes": 1024}), store).test_client()
    events = [
        {
            "type": "m.room.message",
            "event_id": f"$e{i}",
            "room_id": "!r:porch.test",
            "sender": "@carol:porch.test",
            "content": {"msgtype": "m.text", "body": "x" * 500},
        }
        for i in range(10)
    ]
    response = client.put(
        "/_matrix/app/v1/transactions/1",
        json={"events": events},
        headers={"Authorization": f"Bearer {HS_TOKEN}"},
    )
    assert response.status_code == 200
    assert len(store.inbox.rows()) == 10
    forum = client.post(
        "/discourse/webhook",
        data=b"x" * 2048,
        content_type="application/json",
        headers={"X-Discourse-Event-Signature": "sha256=" + "0" * 64},
    )
    assert forum.status_code == 413 and forum.content_type == "application/json"
