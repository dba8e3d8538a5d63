"""Sanction events as porch reads them: bans and rules in the inbox, penalties, power levels."""

from __future__ import annotations

import pytest

from bridges import codec
from bridges.matrix.events import inbox_events
from bridges.model import EventKind, PolicyRuleChanged
from bridges.moderation.sanctions import in_force
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
