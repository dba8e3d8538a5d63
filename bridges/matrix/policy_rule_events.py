"""Policy-list rule events (MSC2313) as neutral events (:class:`bridges.model.PolicyRuleChanged`).

A policy list is a room whose state holds rules: ``m.policy.rule.user`` and
``m.policy.rule.server`` events (and the older ``m.room.rule.*`` and
``org.matrix.mjolnir.rule.*`` types Mjolnir still reads), each with an ``entity`` glob, a
``recommendation`` and a ``reason``. A rule is removed by emptying its state event: "invalid or
missing fields are to be treated as though the rule doesn't exist". See
https://spec.matrix.org/v1.13/client-server-api/#moderation-policy-lists

Moderation (:mod:`bridges.moderation.policy_lists`) decides what a rule means; reading the
events belongs to the Matrix adapter, which knows no feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridges.model import EventID, PolicyRuleChanged, RoomID, UserID

#: Rule event types per entity kind: the stable ones first, then those Mjolnir still reads.
USER_RULES = ("m.policy.rule.user", "m.room.rule.user", "org.matrix.mjolnir.rule.user")
SERVER_RULES = ("m.policy.rule.server", "m.room.rule.server", "org.matrix.mjolnir.rule.server")
RULE_TYPES = frozenset(USER_RULES + SERVER_RULES)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_policy_rule(event: Mapping[str, Any]) -> PolicyRuleChanged | None:
    """The neutral event for an ``m.policy.rule.*`` state event, None for anything else.

    A rule missing any of its required fields (``entity``, ``recommendation``, ``reason``) is
    a removal (``entity`` None).
    """
    kind, state_key = _str(event.get("type")), _str(event.get("state_key"))
    event_id, room_id, sender = (
        _str(event.get("event_id")),
        _str(event.get("room_id")),
        _str(event.get("sender")),
    )
    if kind not in RULE_TYPES or state_key is None:
        return None
    if event_id is None or room_id is None or sender is None:
        return None
    content = event.get("content")
    content = content if isinstance(content, Mapping) else {}
    entity, recommendation, reason = (
        _str(content.get("entity")),
        _str(content.get("recommendation")),
        _str(content.get("reason")),
    )
    if not entity or recommendation is None or reason is None:
        entity = recommendation = reason = None
    return PolicyRuleChanged(
        EventID(event_id),
        RoomID(room_id),
        UserID(sender),
        kind,
        state_key,
        entity,
        recommendation,
        reason,
    )
