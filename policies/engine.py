"""The decision entry point: built-in floor, tiers, then the link's named policy.

``decide`` answers whether an event crosses and which transforms it needs; ``apply`` performs
the transforms on the content. Both are pure. The order of the questions is what makes the
boundary fail closed:

1. the built-in rules (:mod:`policies.crossing`) are the floor: what they refuse never crosses;
2. an unknown tier means the event waits: it is never sent on a guess;
3. with no policy, content crosses only into a space no more open than its source;
4. with a policy, its rule for the direction decides; a condition or transform whose fact is
   unknown makes the event wait. When allowed content goes outward, quotes of and links into
   topics not readable at the target are always removed, whatever the policy lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies import crossing as builtin_rules
from policies.decision import Decision, Outcome, Step
from policies.facts import Content, Facts
from policies.policy_config import CHAT_TO_FORUM, FORUM_TO_CHAT, Action, Policy
from policies.rules import Change, Rules, default_rules

#: Transforms every outward crossing gets, even if its policy does not list them: a quote or a
#: link carries content the policy never published.
BOUNDARY_TRANSFORMS = ("drop_restricted_quotes", "neutralise_restricted_links")


def flow(crossing: builtin_rules.Crossing) -> str:
    """The way ``crossing`` flows: ``forum-to-chat`` or ``chat-to-forum``."""
    return FORUM_TO_CHAT if crossing.source == "discourse" else CHAT_TO_FORUM


def decide(
    crossing: builtin_rules.Crossing,
    facts: Facts,
    policy: Policy | None = None,
    *,
    name: str | None = None,
    rules: Rules | None = None,
) -> Decision:
    """Decide whether ``crossing`` goes ahead, and transformed how.

    Args:
        crossing: the event and the link it asks to cross (:class:`policies.crossing.Crossing`).
        facts: what the relay knows about it; ``None`` fields are unknown.
        policy: the link's named policy (``links[].policy``), if it has one.
        name: the policy's name, for the rule recorded in the audit log.
        rules: where the boundary transforms come from; by default the installed rules.

    Returns:
        A :class:`Decision`. ``waiting`` when a needed fact is unknown; ``transformed`` with the
        steps :func:`apply` performs; ``policy_version`` is the policy's hash, or the built-in
        rules' version when they decided alone.
    """
    floor = builtin_rules.decide(crossing)
    if not floor.crosses:
        return floor
    source, target = facts.effective_source_tier, facts.target_tier
    unknown = tuple(
        fact for fact, tier in (("source_tier", source), ("target_tier", target)) if tier is None
    )
    if source is None or target is None:
        return Decision(
            Outcome.WAITING,
            "tier-unknown",
            builtin_rules.BUILTIN_VERSION,
            f"the tier of the {' and '.join(unknown)} is not known yet",
            facts=facts,
            waiting_for=unknown,
        )
    outward = target.more_open_than(source)
    direction = flow(crossing)
    rule = None if policy is None else policy.direction(direction)
    if rule is None:
        if outward:
            why = (
                f"content from a {source} space does not go into a more open {target} space "
                "without a policy that publishes it"
            )
            if policy is not None:
                why += f"; policy {name or 'of the link'} has no {direction} rule"
            version = builtin_rules.BUILTIN_VERSION if policy is None else policy.version
            return Decision(Outcome.REFUSED, "boundary", version, why, facts=facts)
        return Decision(
            Outcome.CARRIED,
            "tier",
            builtin_rules.BUILTIN_VERSION if policy is None else policy.version,
            f"{source} to {target}: not more open than its source",
            facts=facts,
        )
    assert policy is not None
    label = f"policy:{name or 'unnamed'}/{direction}"
    version = policy.version
    matched, waiting = _conditions(rule.when.named(), facts)
    if waiting:
        return Decision(
            Outcome.WAITING,
            label,
            version,
            f"conditions need facts not known yet: {', '.join(waiting)}",
            facts=facts,
            waiting_for=waiting,
        )
    action = rule.action if matched else rule.otherwise
    if not matched:
        label += "/otherwise"
    if action is Action.DENY:
        reason = "the policy denies it" if matched else "a condition of the policy does not hold"
        return Decision(Outcome.REFUSED, label, version, reason, facts=facts)
    steps = [Step(t, options) for t, options in rule.transforms.named()]
    if outward:
        registry = rules if rules is not None else default_rules()
        present = {step.name for step in steps}
        steps += [
            Step(registry.transforms[n], registry.transforms[n].options())
            for n in BOUNDARY_TRANSFORMS
            if n not in present and n in registry.transforms
        ]
    steps.sort(key=lambda step: (step.transform.order, step.name))
    needed = tuple(dict.fromkeys(n for s in steps for n in s.transform.needs(s.options, facts)))
    if needed:
        return Decision(
            Outcome.WAITING,
            label,
            version,
            f"transforms need facts not known yet: {', '.join(needed)}",
            facts=facts,
            waiting_for=needed,
        )
    if action is Action.HOLD:
        why = "the policy holds it for approval"
        return Decision(Outcome.HELD, label, version, why, tuple(steps), facts)
    if steps:
        why = f"the policy publishes it with {', '.join(s.name for s in steps)}"
        return Decision(Outcome.TRANSFORMED, label, version, why, tuple(steps), facts)
    return Decision(Outcome.CARRIED, label, version, "the policy allows it", facts=facts)


def _conditions(named: list[tuple[Any, Any]], facts: Facts) -> tuple[bool, tuple[str, ...]]:
    """All conditions together, three-valued: one that fails decides; otherwise unknowns wait."""
    unknown: list[str] = []
    for condition, options in named:
        result = condition.test(options, facts)
        if result is False:
            return False, ()
        if result is None:
            unknown.append(condition.name)
    return not unknown, tuple(unknown)


@dataclass(frozen=True, slots=True)
class Transformed:
    """Content after a decision's transforms, and what they changed (for the audit detail)."""

    content: Content
    changes: tuple[Change, ...] = ()

    @property
    def detail(self) -> str:
        """The changes in words, for the audit log: never the removed data itself."""
        return "; ".join(str(change) for change in self.changes)


def apply(decision: Decision, content: Content) -> Transformed:
    """Apply the transforms of ``decision`` to ``content``, in order.

    Raises:
        ValueError: for a decision that does not send anything (``refused``, ``waiting`` ...).
    """
    if decision.outcome not in (Outcome.CARRIED, Outcome.TRANSFORMED, Outcome.HELD):
        raise ValueError(f"a {decision.outcome} decision carries no content")
    facts = decision.facts or Facts(None, None)
    changes: list[Change] = []
    for step in decision.transforms:
        rewrite = step.transform.apply(step.options, facts, content)
        content = rewrite.content
        changes.extend(rewrite.changes)
    return Transformed(content, tuple(changes))


def may_publish(policy: Policy | None, direction: str) -> bool:
    """Whether ``policy`` can ever let content flowing ``direction`` into a more open space.

    For ``porch check``: a link whose far end is more open than its near end needs a policy for
    which this is true, or nothing would ever cross that way.
    """
    rule = None if policy is None else policy.direction(direction)
    return rule is not None and Action.ALLOW in (rule.action, rule.otherwise)
