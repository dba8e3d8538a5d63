"""What a policy returns: the outcome, and the rule and policy version that decided it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policies.facts import Facts
    from policies.rules import Transform


class Outcome(StrEnum):
    """How a crossing ends. The values are written to the audit log; never rename one."""

    CARRIED = "carried"
    TRANSFORMED = "transformed"
    HELD = "held"
    REFUSED = "refused"
    RETRACTED = "retracted"
    #: Not a crossing at all (an echo of porch's own message, an event nothing maps to).
    IGNORED = "ignored"
    #: A fact the decision needs is unknown (tier not fetched yet, groups unknown): the event
    #: waits and is decided again once the facts arrive; it is never sent on a guess.
    WAITING = "waiting"

    @property
    def crosses(self) -> bool:
        return self in (Outcome.CARRIED, Outcome.TRANSFORMED)


@dataclass(frozen=True, slots=True)
class Step:
    """One transform a decision asks for: the rule and its options from the policy file."""

    transform: Transform[Any]
    options: Any

    @property
    def name(self) -> str:
        return self.transform.name


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy's answer for one event.

    ``rule`` names the rule that decided (``direction``, ``private-message``,
    ``policy:publish-tagged/forum-to-chat`` ...); ``policy_version`` identifies the policy text
    it came from, so that the audit log can show which version of the rules let a message
    cross. ``transforms`` are applied with :func:`policies.engine.apply` before delivery;
    ``facts`` are those the decision was made on (the transforms read them); ``waiting_for``
    names the unknown facts of a ``waiting`` decision.
    """

    outcome: Outcome
    rule: str
    policy_version: str
    reason: str
    transforms: tuple[Step, ...] = ()
    facts: Facts | None = None
    waiting_for: tuple[str, ...] = ()

    @property
    def crosses(self) -> bool:
        return self.outcome.crosses

    @property
    def transform_names(self) -> tuple[str, ...]:
        """The names of the transforms to apply, in order (for the audit detail)."""
        return tuple(step.name for step in self.transforms)
