"""Likes and reactions cross only onto a copy porch made and only where the link's policy
lets content flow that way (:mod:`bridges.relay.reaction_gate`). The relay, a real store, the
double and a real homeserver."""

from __future__ import annotations

import time
from collections.abc import Callable

from bridges import codec
from bridges.model import (
    ChatReaction,
    EventID,
    EventKind,
    ForumUsername,
    Platform,
    RoomID,
)
from bridges.store.identities import Identity
from bridges.store.inbox import NewEvent
from sandbox.forum import SandboxForum
from tests.bridges.relay.forum_to_chat.test_forum_retraction_props import Bench, bench  # noqa: F401

#: Published from the private category; nothing from the open room goes back in.
ONE_WAY = {"forum-to-chat": {"action": "allow"}, "chat-to-forum": {"action": "deny"}}


def test_a_like_follows_published_content_out_and_no_reaction_comes_back_in(
    bench: Callable[..., Bench],  # noqa: F811  (the fixture imported above)
    forum: SandboxForum,
) -> None:
    forum.add_category("staff-room", "Staff room", read_restricted=True)
    forum.add_user("tess", name="Tess Turner", moderator=True)
    relay = bench("one-way", ONE_WAY, {"staff": "staff-room"}, direction="both", reactions=True)
    first = forum.create_topic(
        "sam", "staff-room", "Library opening hours", "From April the library opens at 8."
    )
    relay.deliver()
    (root,) = [
        e
        for e in relay.dana.room_messages(relay.room)
        if "Library opening hours" in str(e.get("content", {}).get("body"))
    ]

    forum.like("tess", first["id"])
    relay.deliver()
    reactions = [e for e in relay.dana.room_messages(relay.room) if e["type"] == "m.reaction"]
    assert [r["content"]["m.relates_to"]["event_id"] for r in reactions] == [root["event_id"]]

    # Dana's forum account is bob; her like would say in the private category who read what.
    relay.store.identities.link(
        Identity(relay.dana.user_id, ForumUsername("bob"), None, "test", time.time())
    )
    reaction = ChatReaction(
        EventID("$dana-likes"), RoomID(relay.room), relay.dana.user_id, root["event_id"], "👍"
    )
    relay.store.inbox.append(
        [
            NewEvent(
                Platform.CHAT,
                EventKind.CHAT_REACTION,
                f"matrix:room:{relay.room}",
                codec.encode(EventKind.CHAT_REACTION, reaction),
                ("test:dana-likes",),
            )
        ],
        time.time(),
    )
    relay.deliver()
    assert not [c for c in forum.requests_log() if c.path.startswith("/post_actions")]
    (refused,) = [e for e in relay.store.audit.entries() if e.outcome == "refused"]
    assert (refused.rule, refused.actor) == ("reaction-boundary", relay.dana.user_id)
    assert "lets nothing flow chat-to-forum" in str(refused.detail)
