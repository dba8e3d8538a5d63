"""Ghosts join only rooms their forum user may read.

Before a ghost joins, or sends into, a linked room that is not open, the forum user behind it
must be able to read the link's category: an admin, or a member of a group with any permission
on it (``docs/members.md``, "Membership"). Fail closed: when the room's tier, the category's
security or the user's groups are unknown, the event waits (:class:`RetryLater`); a user known
not to be a reader keeps their ghost out (:class:`GhostRefused`): the crossing is refused,
recorded in the audit log (rule :data:`RULE`), nothing is sent and it is not tried again.
"""

from __future__ import annotations

from bridges.context import RelayContext
from bridges.discourse.forum_errors import ForumError, ForumRateLimited
from bridges.links import LinkConfig
from bridges.membership.membership_facts import MembershipFacts
from bridges.model import ForumUsername, RoomID, UserID
from bridges.worker import RetryLater
from policies.crossing import BUILTIN_VERSION
from policies.decision import Decision, Outcome
from policies.tiers import Tier

#: The audit rule of a crossing refused because its ghost may not be in the room.
RULE = "membership:ghost_not_entitled"


def may_read(readers: frozenset[str], groups: frozenset[str]) -> bool:
    """Whether a forum user in ``groups`` may read a restricted category read by ``readers``
    (admins read every category)."""
    return "admins" in groups or not readers.isdisjoint(groups)


class GhostRefused(Exception):
    """The ghost's forum user may not read the category of the room's link: the crossing is
    refused for good (not a :class:`RetryLater`)."""

    def __init__(self, message: str, link: LinkConfig, username: ForumUsername) -> None:
        super().__init__(message)
        self.link = link
        self.username = username

    def decision(self) -> Decision:
        """The refusal, as the audit log records it."""
        return Decision(Outcome.REFUSED, RULE, BUILTIN_VERSION, str(self))


class GhostGate:
    """``gate(ghost, room)``: returns when the ghost may be in the room, raises otherwise."""

    def __init__(self, ctx: RelayContext, facts: MembershipFacts | None = None) -> None:
        self.ctx = ctx
        self.facts = facts or MembershipFacts(ctx)

    def __call__(self, ghost: UserID, room: RoomID) -> None:
        """Raises:
        RetryLater: a fact is unknown.
        GhostRefused: the forum user may not read the link's category.
        """
        username = self.ctx.ghosts.username_for(ghost)
        link = self.ctx.link_for_room(room)
        if username is None or link is None:
            return
        tier = self.ctx.tiers.room_tier(room)
        if tier is Tier.OPEN:
            return
        if tier is None:
            raise RetryLater(f"ghosts: the tier of room {room} is unknown; {ghost} waits")
        try:
            security = self.ctx.tiers.category(self.ctx.category_of(link))
        except ForumRateLimited:
            raise
        except ForumError as exc:
            raise RetryLater(f"ghosts: the category of {link.name} is unknown: {exc}") from exc
        if security is None:
            raise RetryLater(f"ghosts: the security of {link.name}'s category is unknown")
        if not security.read_restricted:
            return
        if security.group_permissions is None:
            raise RetryLater(f"ghosts: the groups of {link.name}'s category are unknown")
        groups = self.facts.user_groups(username, fresh=False)
        if groups is None:
            raise RetryLater(f"ghosts: the groups of {username} are unknown; {ghost} waits")
        if may_read(security.readers, groups):
            return
        raise GhostRefused(
            f"ghosts: forum user {username} may not read the category of link {link.name}; "
            f"their ghost stays out of {room}",
            link,
            username,
        )
