"""Who belongs in a managed room: pure decisions on plain data, no I/O.

Matrix user ids are plain strings here, as everywhere in :mod:`policies`. The facts come from
:mod:`bridges.membership.rooms`: the groups a room is for, each linked
user's forum groups (``None``: unknown), the room's memberships and power levels.

Rules (issue 4, "Membership follows entitlement"):

- a linked member of an entitled group who is not in the room is invited, once: someone who
  leaves a room porch invited them to is not invited again until porch removed them;
- a linked user known to be in no entitled group is removed, unless they moderate the room
  (power level :data:`MODERATOR_LEVEL` or more) or are porch's own;
- an unknown fact never moves anyone: not knowing a user's groups invites nobody and removes
  nobody (fail closed for access, and no removal on a guess).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from policies.linear import Linear

#: The power level from which a room member moderates it (the spec's default for kicks); such
#: members are never removed automatically.
MODERATOR_LEVEL = 50
#: The automatic group everyone on the forum is in: a room for it invites no one in bulk.
EVERYONE = "everyone"


def entitled(
    room_groups: Collection[str] | None, user_groups: Collection[str] | None
) -> bool | None:
    """Whether a user in ``user_groups`` belongs in a room for ``room_groups``; ``None`` when
    either is unknown."""
    if room_groups is None:
        return None
    if EVERYONE in room_groups:
        return True
    if user_groups is None:
        return None
    return not set(room_groups).isdisjoint(user_groups)


def power_level(power_levels: Mapping[str, Any] | None, user: str) -> int:
    """``user``'s power level from an ``m.room.power_levels`` content (spec defaults when the
    room has none: the creator's 100 is not known here, so 0).

    See https://spec.matrix.org/v1.13/client-server-api/#mroompower_levels
    """
    if power_levels is None:
        return 0
    users = power_levels.get("users")
    if isinstance(users, Mapping):
        level = _level(users.get(user))
        if level is not None:
            return level
    return _level(power_levels.get("users_default", 0)) or 0


# Used whole (fullmatch); ``\z`` keeps a search over a long text to one match at its end.
_INTEGER = Linear(r"[+-]?[0-9]{1,16}\z")


def _level(value: Any) -> int | None:
    """A power level as the auth rules read it: rooms before version 10 may hold it as a
    string of an integer (https://spec.matrix.org/v1.13/rooms/v10/#values-in-mroompower_levels-events-must-be-integers)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def moderates(
    power_levels: Mapping[str, Any] | None, creators: Collection[str], user: str
) -> bool:
    """Whether ``user`` moderates the room: a creator (unlimited power since room v12), or a
    power level of :data:`MODERATOR_LEVEL` or more."""
    return user in creators or power_level(power_levels, user) >= MODERATOR_LEVEL


#: A Matrix user id: the caller's own id type comes back in the plan.
User = TypeVar("User", bound=str)


@dataclass(frozen=True, slots=True)
class RoomPlan(Generic[User]):
    """What to do in one room: who to invite, who to remove, and who waits on a fact."""

    invite: tuple[User, ...] = ()
    kick: tuple[User, ...] = ()
    waiting: tuple[User, ...] = ()
    #: Not entitled, but moderators of the room (or porch's own): left where they are.
    kept: tuple[User, ...] = field(default=())


def plan_room(
    entitlement: Mapping[User, bool | None],
    memberships: Mapping[User, str],
    protected: Collection[User],
    invited_before: Collection[User],
    *,
    bulk_invite: bool = True,
) -> RoomPlan[User]:
    """The invites and removals that bring a room in line with who is entitled.

    Args:
        entitlement: each linked user: entitled, not entitled, or ``None`` (unknown).
        memberships: the room's memberships (``join``, ``invite``, ``knock``, ``leave``,
            ``ban``); a user without one never was in the room.
        protected: users never removed automatically (moderators, porch's bot and ghosts).
        invited_before: users porch invited earlier and has not removed since.
        bulk_invite: ``False`` when the room is for ``everyone``: nobody is invited unasked.
    """
    invite: list[User] = []
    kick: list[User] = []
    waiting: list[User] = []
    kept: list[User] = []
    for user in sorted(entitlement):
        allowed = entitlement[user]
        membership = memberships.get(user)
        if allowed is None:
            waiting.append(user)
        elif allowed:
            # A knock asks; otherwise only someone who never was in the room, or whom porch
            # removed, is invited unasked.
            asked = membership == "knock"
            unasked = membership is None or (membership == "leave" and user not in invited_before)
            if asked or (bulk_invite and unasked):
                invite.append(user)
        elif membership in ("join", "invite"):
            (kept if user in protected else kick).append(user)
    return RoomPlan(tuple(invite), tuple(kick), tuple(waiting), tuple(kept))
