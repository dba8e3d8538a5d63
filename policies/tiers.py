"""The three tiers of a space and how they compare (docs/policies.md, "Tiers")."""

from __future__ import annotations

from enum import StrEnum


class Tier(StrEnum):
    """How closed a space is. The values appear in config and in the audit log; never rename."""

    PRIVATE = "private"
    RESTRICTED = "restricted"
    OPEN = "open"

    @property
    def rank(self) -> int:
        """0 for the most closed tier; a larger rank is more open."""
        return _RANK[self]

    def more_open_than(self, other: Tier) -> bool:
        """Whether content moving from ``other`` into this tier would reach a wider audience."""
        return self.rank > other.rank


_RANK = {Tier.PRIVATE: 0, Tier.RESTRICTED: 1, Tier.OPEN: 2}
