"""Ghosts join only rooms their forum user may read.

Before a ghost joins, or sends into, a linked room that is not open, the forum user behind it
must be able to read the link's category: an admin, or a member of a group with any permission
on it (``shared/reference/discourse.md`` §5). Fail closed: when the room's tier, the category's
security or the user's groups are unknown, the event waits (:class:`RetryLater`); a user who
may not read it keeps their ghost out, and the event is refused the same way until a retry
finds them entitled (or it becomes a dead letter ``porch status`` shows).
"""

from __future__ import annotations

from bridges.context import RelayContext
from bridges.discourse.errors import ForumError, ForumRateLimited
from bridges.membership.facts import MembershipFacts
from bridges.model import RoomID, UserID
from bridges.worker import RetryLater
from policies.tiers import Tier


class GhostRefused(RetryLater):
    """The ghost's forum user may not read the category of the room's link."""


class GhostGate:
    """``gate(ghost, room)``: returns when the ghost may be in the room, raises otherwise."""

    def __init__(self, ctx: RelayContext, facts: MembershipFacts | None = None) -> None:
        self.ctx = ctx
        self.facts = facts or MembershipFacts(ctx)

    def __call__(self, ghost: UserID, room: RoomID) -> None:
        """Raises:
        RetryLater: a fact is unknown, or (:class:`GhostRefused`) the user may not read it.
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
        if "admins" in groups or not security.readers.isdisjoint(groups):
            return
        raise GhostRefused(
            f"ghosts: forum user {username} may not read the category of link {link.name}; "
            f"their ghost stays out of {room}"
        )
