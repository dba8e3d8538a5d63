"""A space's tier from its platform's security: the table of docs/policies.md, both platforms."""

from __future__ import annotations

import pytest

from policies.derive import forum_tier, outward, publishes, readers, room_tier
from policies.tiers import Tier
from tests.policies.policyfiles import policies


@pytest.mark.parametrize(
    ("read_restricted", "groups", "tier"),
    [
        (False, None, Tier.OPEN),
        (False, {"everyone": 1}, Tier.OPEN),
        (True, {"trust_level_0": 1}, Tier.RESTRICTED),
        (True, {"trust_level_2": 3, "staff": 1}, Tier.RESTRICTED),
        (True, {"teachers": 1}, Tier.PRIVATE),
        (True, {"staff": 1}, Tier.PRIVATE),
        (True, {"teachers": 2, "admins": 1, "moderators": 3}, Tier.PRIVATE),
        # The forum showed porch no groups: not guessed.
        (True, None, None),
    ],
)
def test_a_category_tier_follows_its_security(
    read_restricted: bool, groups: dict[str, int] | None, tier: Tier | None
) -> None:
    assert forum_tier(read_restricted, groups) is tier


@pytest.mark.parametrize(
    ("join_rule", "history", "tier"),
    [
        ("public", "shared", Tier.OPEN),
        ("knock", "shared", Tier.RESTRICTED),
        ("restricted", "joined", Tier.RESTRICTED),
        ("knock_restricted", None, Tier.RESTRICTED),
        ("invite", "shared", Tier.PRIVATE),
        ("private", "invited", Tier.PRIVATE),
        # No join rule event: the spec's default, invite.
        (None, None, Tier.PRIVATE),
        # Anyone may read a world-readable room without joining it.
        ("invite", "world_readable", Tier.OPEN),
        ("knock", "world_readable", Tier.OPEN),
        # A join rule porch does not know is not guessed.
        ("org.example.custom", "shared", None),
    ],
)
def test_a_room_tier_follows_its_join_rule_and_history_visibility(
    join_rule: str | None, history: str | None, tier: Tier | None
) -> None:
    assert room_tier(join_rule, history) is tier


def test_readers_are_every_group_with_a_permission() -> None:
    assert readers({"teachers": 1, "parents": 3}) == {"teachers", "parents"}
    assert readers(None) == frozenset()


def test_a_policy_publishes_a_direction_when_its_rule_can_allow_or_hold() -> None:
    named = policies()
    assert publishes(named["publish-tagged"], "forum-to-chat")  # allow when tagged
    assert publishes(named["publish-tagged"], "chat-to-forum")  # hold
    assert not publishes(named["listen-in"], "forum-to-chat")  # deny
    assert publishes(named["listen-in"], "chat-to-forum")
    assert not publishes(None, "forum-to-chat")


def test_outward_is_unknown_while_a_tier_is() -> None:
    assert outward(Tier.PRIVATE, Tier.OPEN) is True
    assert outward(Tier.OPEN, Tier.RESTRICTED) is False
    assert outward(Tier.RESTRICTED, Tier.RESTRICTED) is False
    assert outward(None, Tier.OPEN) is None
