"""The facts membership decisions need, read from the platforms: which rooms are managed, the
groups a room is for, a forum user's groups now.

``None`` always means *unknown* (the forum or the homeserver could not tell); callers never
invite or remove anyone on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from bridges.context import RelayContext
from bridges.discourse.forum_errors import ForumError, ForumNotFound, ForumRateLimited
from bridges.links import LinkConfig
from bridges.model import ForumUsername, RoomID, UserID
from bridges.store.link_requests import IdentityGroups
from policies.tiers import Tier

log = logging.getLogger(__name__)

#: Seconds a forum user's groups, once read, are trusted for ghost admission (a removal from a
#: group reaches ghosts within this long; members get it from the webhook at once).
GROUPS_TTL = 60.0
#: Room tiers whose membership porch manages: an open room is for everyone.
MANAGED_TIERS = frozenset({Tier.PRIVATE, Tier.RESTRICTED})


def forum_groups(user: Mapping[str, Any]) -> frozenset[str]:
    """A forum user's groups from their ``/u/{username}.json`` ``user`` object, with
    Discourse's automatic groups (``Group::AUTO_GROUPS``) whatever the profile lists."""
    groups = {
        str(g["name"])
        for g in user.get("groups") or ()
        if isinstance(g, dict) and isinstance(g.get("name"), str)
    }
    level = user.get("trust_level")
    level = level if isinstance(level, int) and not isinstance(level, bool) else 0
    admin, moderator = user.get("admin") is True, user.get("moderator") is True
    groups |= {"everyone", *(f"trust_level_{n}" for n in range(level + 1))}
    groups |= {"admins"} if admin else set()
    groups |= {"moderators"} if moderator else set()
    groups |= {"staff"} if admin or moderator else set()
    return frozenset(groups)


class MembershipFacts:
    """Reads (and briefly caches) what membership and ghost admission decide on."""

    def __init__(self, ctx: RelayContext, clock: Callable[[], float] = time.monotonic) -> None:
        self.ctx = ctx
        self.clock = clock
        self.identity_groups = IdentityGroups(ctx.store.db)
        self._users: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def managed_links(self) -> list[LinkConfig]:
        """Links whose config asks porch to manage their room's membership."""
        return [link for link in self.ctx.links if link.membership.manage]

    def room_tier(self, link: LinkConfig) -> tuple[RoomID, Tier | None]:
        room = self.ctx.room_of(link)
        return room, self.ctx.tiers.room_tier(room)

    def room_groups(self, link: LinkConfig) -> frozenset[str] | None:
        """The groups the link's room is for: ``membership.groups``, else those that may
        read the link's category; ``None`` when the category's security is unknown.

        Raises:
            ForumRateLimited: the forum asks porch to wait.
        """
        if link.membership.groups:
            return frozenset(link.membership.groups)
        try:
            security = self.ctx.tiers.category(self.ctx.category_of(link))
        except ForumRateLimited:
            raise
        except ForumError as exc:
            log.warning("membership: %s: the category's readers are unknown (%s)", link.name, exc)
            return None
        if security is None or (security.read_restricted and security.group_permissions is None):
            return None
        return security.readers

    def user_groups(self, username: ForumUsername, *, fresh: bool = True) -> frozenset[str] | None:
        """The forum's word on a user's groups now (``fresh``), or within :data:`GROUPS_TTL`;
        ``None`` when the forum cannot tell (a missing user is in no group).

        Raises:
            ForumRateLimited: the forum asks porch to wait.
        """
        key = username.lower()
        now = self.clock()
        with self._lock:
            cached = self._users.get(key)
        if not fresh and cached is not None and now - cached[0] < GROUPS_TTL:
            return cached[1]
        try:
            groups = forum_groups(self.ctx.forum.user(username))
        except ForumRateLimited:
            raise
        except ForumNotFound:
            groups = frozenset()
        except ForumError as exc:
            log.warning("membership: the groups of %s are unknown (%s)", username, exc)
            return None
        with self._lock:
            self._users[key] = (now, groups)
        return groups

    def refresh_identity(self, user: UserID, groups: frozenset[str]) -> None:
        """Record a linked user's groups as the forum states them now (those recorded when
        they linked go stale)."""
        with self.ctx.store.db.begin() as conn:
            self.identity_groups.replace(conn, user, groups - {"everyone"})

    def power_levels(self, room: RoomID) -> dict[str, Any] | None:
        return self.ctx.chat.room_state(room, "m.room.power_levels")
