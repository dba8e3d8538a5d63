"""``links[].membership``: whether porch keeps a room's members in step with forum groups."""

from __future__ import annotations

from pydantic import Field, field_validator

from bridges.configbase import Section

DEFAULT_KICK_REASON = "You are no longer in a forum group this room is for."


class MembershipConfig(Section):
    """How porch manages who is in a link's room.

    Off unless ``manage`` is true, and never applied to an open room (its tier is read from
    the room, :mod:`bridges.link_tiers`): an open room is for everyone.
    """

    #: Invite linked members of the entitled groups, remove those who leave them, answer knocks.
    manage: bool = False
    #: The entitled forum groups. Empty: the groups that may read the link's category.
    groups: tuple[str, ...] = ()
    #: Where knocks porch cannot accept are announced (a room id or alias, porch's bot invited);
    #: unset: in the room itself, as a notice.
    facilitators_room: str | None = None
    #: What the member removed from the room is told.
    kick_reason: str = Field(default=DEFAULT_KICK_REASON, min_length=1, max_length=300)

    @field_validator("groups")
    @classmethod
    def _named(cls, groups: tuple[str, ...]) -> tuple[str, ...]:
        if any(not g.strip() for g in groups):
            raise ValueError("group names must not be blank")
        return groups

    @field_validator("facilitators_room")
    @classmethod
    def _room_ref(cls, room: str | None) -> str | None:
        if room is None:
            return None
        if not (room.startswith("!") or room.startswith("#")) or len(room) < 2:
            raise ValueError("must be a room id (!...) or an alias (#...:server)")
        if room.startswith("#") and ":" not in room:
            raise ValueError("an alias needs its server: #name:server")
        return room
