"""Invites reach porch's inbox only when they ask something of porch: one of its users invited."""

from __future__ import annotations

from typing import Any

from bridges import codec
from bridges.matrix.events import inbox_events, parse_event
from bridges.model import ChatInvite, EventKind

BOT = "@porch:example.org"


def invite(
    invitee: str, *, is_direct: bool | None = True, membership: str = "invite"
) -> dict[str, Any]:
    content: dict[str, Any] = {"membership": membership}
    if is_direct is not None:
        content["is_direct"] = is_direct
    return {
        "type": "m.room.member",
        "event_id": "$inv",
        "room_id": "!dm:example.org",
        "sender": "@dana:example.org",
        "state_key": invitee,
        "content": content,
    }


def test_a_direct_invite_of_the_bot_is_recorded() -> None:
    (event,) = inbox_events([invite(BOT)], is_ours=lambda user: user == BOT)
    assert event.kind is EventKind.CHAT_INVITE
    assert event.conversation == "matrix:room:!dm:example.org"
    assert codec.decode(event.kind, event.payload) == ChatInvite(
        "$inv",  # type: ignore[arg-type]
        "!dm:example.org",  # type: ignore[arg-type]
        "@dana:example.org",  # type: ignore[arg-type]
        BOT,  # type: ignore[arg-type]
        is_direct=True,
    )


def test_other_memberships_and_other_invitees_are_not() -> None:
    ours = lambda user: user == BOT  # noqa: E731
    assert inbox_events([invite("@erin:example.org")], is_ours=ours) == []
    assert inbox_events([invite(BOT, membership="join")], is_ours=ours) == []
    assert inbox_events([invite(BOT, membership="leave")], is_ours=ours) == []


def test_an_invite_without_is_direct_is_not_a_direct_chat() -> None:
    parsed = parse_event(invite(BOT, is_direct=None))
    assert isinstance(parsed, ChatInvite) and not parsed.is_direct
