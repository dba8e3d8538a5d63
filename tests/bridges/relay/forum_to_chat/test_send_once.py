"""Sending once across a homeserver restart: the mark in the content finds an earlier send.

Against the session's real Synapse; the restart itself is in tests/e2e/test_forum_trouble.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from bridges.matrix.api import AppserviceAPI
from bridges.model import EventKind, Platform
from bridges.relay.forum_to_chat.send_once import MARKER, find_sent, send_once
from bridges.store.inbox import InboxRow
from tests.rig.matrix import ChatUser

pytestmark = pytest.mark.usefixtures("appservice_stub")


def _row(last_error: str | None) -> InboxRow:
    return InboxRow(
        id=1,
        source=Platform.FORUM,
        kind=EventKind.POST_CREATED,
        conversation="discourse:topic:1",
        payload="{}",
        status="pending",
        attempts=0,
        next_attempt_at=0.0,
        last_error=last_error,
        received_at=0.0,
    )


def test_a_retry_finds_the_event_an_earlier_attempt_sent(
    appservice_api: AppserviceAPI, matrix_user_factory: Callable[..., ChatUser]
) -> None:
    api = appservice_api
    carol = matrix_user_factory()
    room = carol.create_room(name="once", invite=[api.bot_user_id])
    api.ensure_joined(room, api.bot_user_id)
    ghost = api.ensure_registered(f"forum_{uuid.uuid4().hex[:8]}")
    api.ensure_joined(room, ghost)
    txn = f"porch.test.{uuid.uuid4().hex}"

    # An event sent with ``txn`` before the homeserver restarted and forgot that transaction
    # id: its content has porch's mark, the homeserver's transaction cache does not have it.
    marked = {"msgtype": "m.text", "body": "hi", MARKER: txn}
    sent = api.send(room, marked, as_user=ghost, txn_id=api.new_txn_id())
    # Other events after it, from the same ghost and from someone else.
    api.send(room, {"msgtype": "m.text", "body": "later"}, as_user=ghost, txn_id=api.new_txn_id())
    carol.send_text(room, "a person speaking")

    assert find_sent(api, room, txn, as_user=ghost) == sent
    assert find_sent(api, room, "porch.never.sent", as_user=ghost) is None
    # A retry after a failure finds the earlier event by its mark instead of sending again.
    text = {"msgtype": "m.text", "body": "hi"}
    assert (
        send_once(api, _row("homeserver unreachable"), room, text, as_user=ghost, txn=txn) == sent
    )
    newest = api.recent_events(room, limit=5, senders=[ghost], types=["m.room.message"])
    assert [e["content"]["body"] for e in newest] == ["later", "hi"]

    # A first attempt does not look: it sends, with the mark.
    fresh = f"porch.test.{uuid.uuid4().hex}"
    first = send_once(api, _row(None), room, text, as_user=ghost, txn=fresh)
    assert first != sent
    assert find_sent(api, room, fresh, as_user=ghost) == first
