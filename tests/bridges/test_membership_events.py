"""The events membership follows, from both doors: ``group_user`` webhooks and knocks."""

from __future__ import annotations

import pytest

from bridges import codec
from bridges.discourse.payloads import PayloadError, inbox_event, root_key
from bridges.matrix.events import inbox_events, parse_event
from bridges.model import ChatKnock, EventKind, ForumGroupUser, MembershipRefresh

BODY = {
    "group_user": {
        "id": 7,
        "group_id": 41,
        "user_id": 3,
        "notification_level": 3,
        "created_at": "2026-12-05T06:00:00.000Z",
    }
}


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("user_added_to_group", EventKind.GROUP_USER_ADDED),
        ("group_user_added", EventKind.GROUP_USER_ADDED),
        ("user_removed_from_group", EventKind.GROUP_USER_REMOVED),
        ("group_user_removed", EventKind.GROUP_USER_REMOVED),
    ],
)
def test_group_user_webhooks_become_membership_events(name: str, kind: EventKind) -> None:
    assert root_key(name) == "group_user"
    new = inbox_event(name, "77", BODY)
    assert new is not None
    assert new.kind is kind
    assert new.conversation == "porch:membership"
    assert new.keys == ("discourse:delivery:77",)
    assert codec.decode(new.kind, new.payload) == ForumGroupUser(group_id=41, user_id=3)


def test_a_group_user_body_without_the_user_is_refused() -> None:
    with pytest.raises(PayloadError, match=r"group_user\.user_id: is required"):
        inbox_event("user_removed_from_group", "1", {"group_user": {"group_id": 41}})


def _member(membership: str, sender: str, state_key: str) -> dict[str, object]:
    return {
        "type": "m.room.member",
        "event_id": "$knock",
        "room_id": "!room:localhost",
        "sender": sender,
        "state_key": state_key,
        "content": {"membership": membership, "reason": "I teach year 5"},
    }


def test_a_knock_is_recorded_with_its_reason() -> None:
    event = _member("knock", "@ana:localhost", "@ana:localhost")
    assert parse_event(event) == ChatKnock(
        "$knock",  # type: ignore[arg-type]
        "!room:localhost",  # type: ignore[arg-type]
        "@ana:localhost",  # type: ignore[arg-type]
        "I teach year 5",
    )
    (new,) = inbox_events([event], is_ours=lambda user: user == "@porch:localhost")
    assert new.kind is EventKind.CHAT_KNOCK
    assert new.conversation == "matrix:room:!room:localhost"


def test_other_memberships_and_knocks_for_someone_else_are_not_knocks() -> None:
    assert parse_event(_member("join", "@ana:localhost", "@ana:localhost")) is None
    assert parse_event(_member("leave", "@ana:localhost", "@ana:localhost")) is None
    assert parse_event(_member("knock", "@ana:localhost", "@ben:localhost")) is None


def test_a_refresh_round_trips() -> None:
    kind = EventKind.MEMBERSHIP_REFRESH
    assert codec.decode(kind, codec.encode(kind, MembershipRefresh())) == MembershipRefresh()
