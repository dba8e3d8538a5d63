"""Sanction events as porch reads them: bans, forum user webhooks, power levels, inbox keys."""

from __future__ import annotations

import pytest

from bridges import codec
from bridges.discourse.payloads import PayloadError, inbox_event
from bridges.matrix.events import inbox_events
from bridges.model import ChatBan, EventKind, ForumUserChanged, PolicyRuleChanged
from bridges.moderation.sanctions import in_force, parse_ban
from policies.membership import power_level

NOW = 1_700_000_000.0  # 2023-11-14


def _member(membership: str, **extra: object) -> dict[str, object]:
    return {
        "type": "m.room.member",
        "event_id": "$ban",
        "room_id": "!room",
        "sender": "@mod:hs",
        "state_key": "@erin:hs",
        "content": {"membership": membership, **extra},
    }


def test_a_ban_is_read_with_its_reason() -> None:
    assert parse_ban(_member("ban", reason="spam")) == ChatBan(
        "$ban", "!room", "@mod:hs", "@erin:hs", "spam"
    )
    assert parse_ban(_member("leave")) is None
    assert parse_ban({**_member("ban"), "state_key": None}) is None


def test_bans_and_rules_reach_the_inbox_but_not_porchs_own() -> None:
    rule = {
        "type": "m.policy.rule.user",
        "event_id": "$rule",
        "room_id": "!list",
        "sender": "@lister:hs",
        "state_key": "rule:1",
        "content": {"entity": "@spam*:hs", "recommendation": "m.ban", "reason": "spam"},
    }
    ours = {**_member("ban"), "sender": "@porch:hs", "event_id": "$ours"}
    events = inbox_events([_member("ban"), rule, ours], is_ours=lambda u: u == "@porch:hs")
    assert [e.kind for e in events] == [EventKind.CHAT_BAN, EventKind.POLICY_RULE_CHANGED]
    decoded = codec.decode(events[1].kind, events[1].payload)
    assert isinstance(decoded, PolicyRuleChanged) and decoded.entity == "@spam*:hs"


def _user(**fields: object) -> dict[str, object]:
    return {"user": {"id": 7, "username": "bob", "admin": False, "moderator": False, **fields}}


def test_user_webhooks_carry_the_penalties_and_count_once_per_change() -> None:
    body = _user(suspended_till="2121-02-22T00:00:00.000Z", suspend_reason="spam")
    first = inbox_event("user_suspended", "d1", body)
    assert first is not None and first.kind is EventKind.FORUM_USER_CHANGED
    user = codec.decode(first.kind, first.payload)
    assert isinstance(user, ForumUserChanged)
    assert (user.username, user.suspend_reason, user.staff) == ("bob", "spam", False)
    # A later profile edit that changes no penalty shares the content key: one inbox event.
    echo = inbox_event("user_updated", "d2", {"user": {**body["user"], "name": "Bob B"}})  # type: ignore[dict-item]
    assert echo is not None and set(first.keys) & set(echo.keys)
    lifted = inbox_event("user_unsuspended", "d3", _user())
    assert lifted is not None and not set(first.keys) & set(lifted.keys)
    with pytest.raises(PayloadError, match=r"user\.id"):
        inbox_event("user_updated", "d4", {"user": {"username": "bob"}})


@pytest.mark.parametrize(
    ("till", "holds"),
    [
        (None, False),
        ("", False),
        ("2121-02-22", True),
        ("2121-02-22T08:00:00.000Z", True),
        ("2001-01-01T00:00:00Z", False),
        ("not a time", True),  # unreadable: fail closed
    ],
)
def test_a_penalty_holds_until_its_end(till: str | None, holds: bool) -> None:
    assert in_force(till, NOW) is holds


def test_power_levels_follow_the_spec_defaults() -> None:
    levels = {"users": {"@mod:hs": 50, "@muted:hs": -1}, "users_default": 0}
    assert power_level(levels, "@mod:hs") == 50
    assert power_level(levels, "@muted:hs") == -1
    assert power_level(levels, "@someone:hs") == 0
    assert power_level({"users_default": 10}, "@someone:hs") == 10
    assert power_level({}, "@someone:hs") == 0
