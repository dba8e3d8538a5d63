"""A space's tier from its platform's own security settings (docs/policies.md,
"Tiers").

Pure: the relay fetches the settings (``bridges/link_tiers.py``) and these functions read them.

**Forum category** (Discourse's category security; ``docs/policies.md``, "Tiers"):

- not ``read_restricted``: anyone may read it, signed in or not: **open**;
- ``read_restricted`` and a trust-level group may see it (``trust_level_0`` .. ``trust_level_4``):
  anyone who signs up (and earns the level) reads it, so members read it and anyone may apply by
  joining the forum: **restricted**;
- ``read_restricted`` and only named groups (custom groups, ``staff``, ``admins``,
  ``moderators``) may see it: members only, joined by being added to a group: **private**;
- ``read_restricted`` without the group list (porch's account may not edit the category, so the
  forum does not show it): unknown. The tier is never guessed: decisions wait.

**Matrix room** (https://spec.matrix.org/v1.13/client-server-api/#mroomjoin_rules and
#room-history-visibility):

- join rule ``public``: **open**; ``knock``, ``restricted`` and ``knock_restricted``:
  **restricted**; ``invite`` and ``private``: **private**. A room without a join rule event is
  ``invite`` (the spec's default); a join rule porch does not know is unknown;
- history visibility ``world_readable`` lets anyone read the room without joining, so such a
  room is **open** whatever its join rule (a missing or unknown visibility is ``shared``, which
  changes nothing).
"""

from __future__ import annotations

from collections.abc import Mapping

from policies.policy_config import Action, Policy
from policies.tiers import Tier

#: Discourse's automatic trust-level groups: everyone who signs up reaches ``trust_level_0``.
TRUST_LEVEL_GROUPS = frozenset(f"trust_level_{level}" for level in range(5))

_JOIN_RULE_TIERS: Mapping[str, Tier] = {
    "public": Tier.OPEN,
    "knock": Tier.RESTRICTED,
    "restricted": Tier.RESTRICTED,
    "knock_restricted": Tier.RESTRICTED,
    "invite": Tier.PRIVATE,
    "private": Tier.PRIVATE,
}


def forum_tier(read_restricted: bool, group_permissions: Mapping[str, int] | None) -> Tier | None:
    """The tier of a forum category from its security.

    Args:
        read_restricted: the category's ``read_restricted`` flag.
        group_permissions: group name -> permission type (1 full, 2 reply, 3 see) of the
            category's ``group_permissions``; ``None`` when the forum did not show them.

    Returns:
        The tier, or ``None`` when the security shown is not enough to tell.
    """
    if not read_restricted:
        return Tier.OPEN
    if group_permissions is None:
        return None
    if "everyone" in group_permissions:
        # Discourse never stores this for a restricted category; if it says so, anyone reads.
        return Tier.OPEN
    if not TRUST_LEVEL_GROUPS.isdisjoint(group_permissions):
        return Tier.RESTRICTED
    return Tier.PRIVATE


def room_tier(join_rule: str | None, history_visibility: str | None) -> Tier | None:
    """The tier of a Matrix room from its ``m.room.join_rules`` and
    ``m.room.history_visibility`` (``None``: the room has no such state event).

    Returns:
        The tier, or ``None`` for a join rule porch does not know.
    """
    if history_visibility == "world_readable":
        return Tier.OPEN
    return _JOIN_RULE_TIERS.get(join_rule or "invite")


def readers(group_permissions: Mapping[str, int] | None) -> frozenset[str]:
    """The groups entitled to read a category (any permission type lets a group see it)."""
    return frozenset(group_permissions or {})


def publishes(policy: Policy | None, direction: str) -> bool:
    """Whether ``policy`` can ever let content flow ``direction`` (``forum-to-chat`` /
    ``chat-to-forum``) into a more open space: its rule for that direction allows or holds
    for approval, under its conditions or otherwise. ``porch check`` refuses an outward link
    whose policy does not."""
    rule = None if policy is None else policy.direction(direction)
    if rule is None:
        return False
    return bool({rule.action, rule.otherwise} & {Action.ALLOW, Action.HOLD})


def outward(source: Tier | None, target: Tier | None) -> bool | None:
    """Whether content from ``source`` into ``target`` reaches a wider audience (``None``:
    a tier is unknown)."""
    if source is None or target is None:
        return None
    return target.more_open_than(source)
