"""POST /discourse/webhook with a like: recorded when porch's webhook is subscribed to likes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bridges.model import EventKind
from bridges.store.store import Store
from tests.webhooks.configs import WEBHOOK_SECRET, make_config
from webhooks.app import create_app
from webhooks.discourse import signature

DATA = Path(__file__).resolve().parents[1] / "data" / "discourse"


def _deliver(store: Store, event_type: str, body: dict[str, Any]) -> Any:
    app = create_app(make_config(), store, clock=lambda: 1000.0, on_accepted=lambda: None)
    raw = json.dumps(body).encode()
    return app.test_client().post(
        "/discourse/webhook",
        data=raw,
        content_type="application/json",
        headers={
            "X-Discourse-Event": "post_liked",
            "X-Discourse-Event-Type": event_type,
            "X-Discourse-Event-Id": "7",
            "X-Discourse-Event-Signature": signature(WEBHOOK_SECRET, raw),
        },
    )


def _like() -> dict[str, Any]:
    post = json.loads((DATA / "post.json").read_text())["post"]
    return {"like": {"post": post, "user": {"id": 9, "username": "bob"}}}


def test_a_like_is_recorded(store: Store) -> None:
    response = _deliver(store, "like", _like())
    assert response.status_code == 200 and response.json == {"recorded": True}
    (row,) = store.inbox.rows()
    assert row.kind is EventKind.POST_LIKED


def test_a_like_under_the_wrong_event_type_is_refused(store: Store) -> None:
    response = _deliver(store, "post", _like())
    assert response.status_code == 400
    assert "is a like event" in response.json["error"]
    assert store.inbox.rows() == []
