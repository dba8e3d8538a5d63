"""What a policy returns: the outcome, and the rule and policy version that decided it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """How a crossing ends. The values are written to the audit log; never rename one."""

    CARRIED = "carried"
    TRANSFORMED = "transformed"
    HELD = "held"
    REFUSED = "refused"
    RETRACTED = "retracted"
    #: Not a crossing at all (an echo of porch's own message, an event nothing maps to).
    IGNORED = "ignored"

    @property
    def crosses(self) -> bool:
        return self in (Outcome.CARRIED, Outcome.TRANSFORMED)


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy's answer for one event.

    ``rule`` names the rule that decided (``direction``, ``private-message`` ...);
    ``policy_version`` identifies the policy text it came from, so that the audit log can show
    which version of the rules let a message cross.
    """

    outcome: Outcome
    rule: str
    policy_version: str
    reason: str

    @property
    def crosses(self) -> bool:
        return self.outcome.crosses
