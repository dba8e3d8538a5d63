"""Whether a like or reaction may cross a link: the same boundary as the content it is on.

A reaction crosses only onto something that crossed (the relay finds the copy in the mapping
first), and only where the link's policy lets content flow that way: the built-in floor (the
link's direction), then the tiers. Into a more open space it needs a policy whose rule for the
direction can publish; a rule that never allows refuses it in any direction. A like says who
read what: it is never carried out of a space its content may not leave.

A reaction carries no text for the policy's conditions to test; what the policy could publish
(:func:`policies.derive.publishes`) decides.
"""

from __future__ import annotations

from bridges.context import RelayContext
from bridges.links import LinkConfig
from bridges.model import Platform
from bridges.worker import RetryLater
from policies.crossing import Crossing, decide
from policies.decision import Decision, Outcome
from policies.derive import publishes
from policies.policy_config import CHAT_TO_FORUM, FORUM_TO_CHAT

#: The rule name reactions are decided by, in the audit log.
RULE = "reaction-boundary"


def reaction_decision(
    ctx: RelayContext,
    link: LinkConfig,
    source: Platform,
    *,
    post_type: int | None = None,
    archetype: str | None = None,
) -> Decision:
    """Whether a reaction written on ``source`` may cross ``link``.

    Raises:
        RetryLater: a tier is not known yet (the reaction waits, as content would).
    """
    floor = decide(
        Crossing(
            source=source.value,
            direction=link.direction.value,
            link=link.name,
            post_type=post_type,
            archetype=archetype,
        )
    )
    if not floor.crosses:
        return floor
    forum = ctx.tiers.forum_tier(ctx.category_of(link))
    room = ctx.tiers.room_tier(ctx.room_of(link))
    if forum is None or room is None:
        raise RetryLater(f"reaction on link {link.name}: a tier is not known yet")
    flow, origin, target = (
        (FORUM_TO_CHAT, forum, room) if source is Platform.FORUM else (CHAT_TO_FORUM, room, forum)
    )
    policy = None if link.policy is None else ctx.policies.get(link.policy)
    version = floor.policy_version if policy is None else policy.version
    rule = None if policy is None else policy.direction(flow)
    if target.more_open_than(origin) and not publishes(policy, flow):
        why = f"a reaction from a {origin} space does not go into a more open {target} space"
        return Decision(Outcome.REFUSED, RULE, version, f"{why} without a policy that publishes")
    if rule is not None and not publishes(policy, flow):
        why = f"policy {link.policy} lets nothing flow {flow}"
        return Decision(Outcome.REFUSED, RULE, version, why)
    return Decision(Outcome.CARRIED, RULE, version, f"{origin} to {target}: the link carries it")
