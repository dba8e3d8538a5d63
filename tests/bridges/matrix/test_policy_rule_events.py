"""Policy-list rule events (MSC2313) as the Matrix adapter reads them."""

from __future__ import annotations

import pytest

from bridges.matrix.policy_rule_events import parse_policy_rule
from bridges.model import RoomID

LIST = RoomID("!list")


def _event(kind: str, content: dict[str, object], state_key: str = "rule:1") -> dict[str, object]:
    return {
        "type": kind,
        "state_key": state_key,
        "event_id": "$e",
        "room_id": LIST,
        "sender": "@mod:hs",
        "content": content,
    }


def test_a_rule_with_every_field_is_read() -> None:
    event = parse_policy_rule(
        _event(
            "m.policy.rule.user",
            {"entity": "@spam*:hs", "recommendation": "m.ban", "reason": "spam"},
        )
    )
    assert event is not None
    assert (event.entity, event.recommendation, event.reason) == ("@spam*:hs", "m.ban", "spam")


@pytest.mark.parametrize(
    "content",
    [{}, {"entity": "@a:hs", "recommendation": "m.ban"}, {"entity": "", "reason": "x"}],
)
def test_a_rule_missing_a_field_is_a_removal(content: dict[str, object]) -> None:
    # "Invalid or missing fields are to be treated as though the rule doesn't exist."
    event = parse_policy_rule(_event("m.policy.rule.user", content))
    assert event is not None and event.entity is None


def test_other_state_is_not_a_rule() -> None:
    assert parse_policy_rule(_event("m.room.name", {"name": "x"})) is None
    no_key = _event("m.policy.rule.user", {"entity": "@a:hs"})
    del no_key["state_key"]
    assert parse_policy_rule(no_key) is None
