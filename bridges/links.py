"""The ``links:`` and ``relay:`` config sections: what is connected, and how the relay paces."""

from __future__ import annotations

from pydantic import Field, field_validator

from bridges.configbase import Section
from bridges.membership.membership_config import MembershipConfig
from bridges.model import CategoryID, Direction, LinkName, RoomAlias, RoomID
from policies.tiers import Tier


class ForumEnd(Section):
    """The forum end of a link: a category (slug or id), optionally narrowed by tags."""

    category: str | int
    tags: tuple[str, ...] = ()
    #: The tier the admin expects the category to have (``porch check`` uses it offline;
    #: ``--online`` reports a contradiction with the forum). Decisions use the forum's own.
    tier: Tier | None = None

    @field_validator("category")
    @classmethod
    def _not_blank(cls, category: str | int) -> str | int:
        if isinstance(category, str) and not category.strip():
            raise ValueError("must be a category slug or id")
        return category

    def matches(self, category_id: CategoryID | None, category_slug: str | None) -> bool:
        """Whether a post in this category belongs to this end."""
        if category_id is None:
            return False
        if isinstance(self.category, int):
            return self.category == category_id
        if self.category.isdigit():
            return int(self.category) == category_id
        return category_slug is not None and self.category == category_slug


class LinkConfig(Section):
    """One category <-> room connection."""

    name: LinkName = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    forum: ForumEnd
    room: str
    direction: Direction = Direction.BOTH
    policy: str | None = None
    #: The tier the admin expects the room to have (as ``forum.tier``, for the room).
    room_tier: Tier | None = None
    #: Top-level chat messages start new topics (otherwise they stay in chat).
    topics_from_chat: bool = False
    #: Carry reactions as forum likes (by linked users) and likes as reactions.
    reactions: bool = False
    #: Consecutive chat messages of one sender within this many seconds become one forum post
    #: (0: every message is its own post).
    merge_window: float = Field(default=0.0, ge=0, le=3600)
    #: Keep the room's members in step with forum groups (:mod:`bridges.membership`).
    membership: MembershipConfig = Field(default_factory=MembershipConfig)

    @field_validator("room")
    @classmethod
    def _room_ref(cls, room: str) -> str:
        if not (room.startswith("!") or room.startswith("#")) or len(room) < 2:
            raise ValueError("must be a room id (!...) or an alias (#...:server)")
        if room.startswith("#") and ":" not in room:
            raise ValueError("an alias needs its server: #name:server")
        return room

    @property
    def room_ref(self) -> RoomID | RoomAlias:
        return RoomID(self.room) if self.room.startswith("!") else RoomAlias(self.room)


class RelayConfig(Section):
    """How the relay worker retries and how it names chat senders on the forum."""

    #: Attempts before an event is parked as a dead letter.
    max_attempts: int = Field(default=8, ge=1)
    #: First retry delay in seconds; doubles on each failure up to ``backoff_max``.
    backoff_initial: float = Field(default=1.0, gt=0)
    backoff_max: float = Field(default=300.0, gt=0)
    #: Seconds between polls of an idle inbox.
    poll_interval: float = Field(default=0.2, gt=0)
    #: Heading for a chat message posted by the relay account for an unlinked user:
    #: ``{displayname}``, ``{user_id}`` and ``{matrix_to}`` (a https://matrix.to link to them).
    chat_sender_template: str = "**{displayname}** ([{user_id}]({matrix_to})) on Matrix:"
    #: Largest file carried between the platforms, in bytes; larger ones become links.
    media_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    #: Seconds a category's or room's security is trusted before it is read again (and how
    #: often every link's is read again in the background).
    tier_refresh: float = Field(default=300.0, gt=0)
    #: Seconds between reconciliations of managed rooms' members with the forum's groups
    #: (catches a ``group_user`` webhook that never arrived).
    membership_refresh: float = Field(default=900.0, gt=0)

    @field_validator("chat_sender_template")
    @classmethod
    def _known_fields(cls, template: str) -> str:
        try:
            template.format(displayname="x", user_id="@x:y", matrix_to="https://matrix.to/")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                "may use {displayname}, {user_id} and {matrix_to} only "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        return template
