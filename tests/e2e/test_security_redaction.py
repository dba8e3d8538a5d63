"""A redaction porch receives proves nothing about its sender's power.

From room version 3 a homeserver accepts any member's ``m.room.redaction`` into the room (a
federated server may send one for any event) and leaves the power check to whoever applies it
(https://spec.matrix.org/v1.13/rooms/v3/#handling-redactions). Synapse refuses such a redaction
from its own clients, so the test delivers it the way a remote server's event arrives: in a
transaction on porch's appservice door, signed with the hs_token. Porch must not hide the
forum post on its say-so.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import requests

from tests.e2e.chat_side import open_thread
from tests.e2e.conftest import is_text
from tests.e2e.test_sanctions import Moderated, moderated  # noqa: F401 (the fixture)
from tests.rig.matrix import ChatUser
from tests.rig.wait import wait_until


def _deliver(space: Moderated, events: list[dict[str, Any]]) -> None:
    token = space.porch.data["matrix"]["appservice"]["hs_token"]
    response = requests.put(
        f"{space.porch.url}/_matrix/app/v1/transactions/{uuid.uuid4().hex}",
        json={"events": events},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_a_members_redaction_without_power_does_not_hide_the_forum_post(
    moderated: Callable[..., Moderated],  # noqa: F811
    matrix_user_factory: Callable[..., ChatUser],
) -> None:
    space = moderated(moderation={"sanctions": {"chat_redaction": "hide"}})
    erin = matrix_user_factory()
    erin.join(space.room)
    first, _ = open_thread(
        space.town, space.forum, "Benches for the square", "Where should they go?"
    )
    reply = space.forum.reply("bob", first["topic_id"], "I would put them by the fountain.")
    copy = space.town.dana.wait_for_event(space.room, is_text("by the fountain"), timeout=30)

    _deliver(
        space,
        [
            {
                "type": "m.room.redaction",
                "event_id": f"$forged{uuid.uuid4().hex}",
                "room_id": space.room,
                "sender": erin.user_id,
                "origin_server_ts": 1,
                "redacts": copy["event_id"],
                "content": {"redacts": copy["event_id"], "reason": "I do not like it"},
            }
        ],
    )

    rule = "sanction:chat_redaction:hide"
    skipped = wait_until(
        lambda: [e for e in space.audit(rule) if e.actor == erin.user_id],
        30,
        "porch to decide on erin's redaction",
    )
    assert [e.outcome for e in skipped] == ["ignored"], skipped
    assert "may not redact" in (skipped[0].detail or "")
    assert not space.forum.post(reply["id"]).get("hidden")
    assert not [s for s in space.sanctions() if s.kind == "post_hide"]
