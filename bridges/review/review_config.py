"""The ``review:`` config section: where moderators decide on held messages."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import Field, SecretStr, field_validator

from bridges.configbase import Section

#: A moderator's name on the review page: letters, digits and ``._-@:`` (a Matrix id works).
_NAME = re.compile(r"^[A-Za-z0-9._@:=-]{1,100}$")


class ReviewConfig(Section):
    """Moderators of held messages: a Matrix room and porch's ``/review`` page.

    With neither, held messages wait in the queue until ``porch`` is configured to show them
    to someone; nothing held is ever delivered without a decision.
    """

    #: The moderators room (id or alias; porch's bot must be invited). Each held message is
    #: announced there; moderators answer with a reaction (✅ / ❌) or ``!approve N`` /
    #: ``!reject N [reason]``.
    room: str | None = None
    #: The power level a member of the moderators room needs to decide (Matrix moderators
    #: have 50 by default).
    power_level: int = Field(default=50, ge=0)
    #: Moderators of the ``/review`` page: name -> their own token (at least 32 characters).
    #: The name is what the audit log records as the one who decided.
    moderators: dict[str, SecretStr] = Field(default_factory=dict)
    #: How long a signed-in page session lasts, in seconds.
    session_seconds: float = Field(default=8 * 3600, gt=0)

    @field_validator("room")
    @classmethod
    def _room(cls, room: str | None) -> str | None:
        if room is not None and not room.startswith(("!", "#")):
            raise ValueError("must be a room id (!...) or alias (#...:server)")
        return room

    @field_validator("moderators")
    @classmethod
    def _moderators(cls, moderators: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, token in moderators.items():
            if not _NAME.match(name):
                raise ValueError(f"{name!r}: a moderator name is letters, digits and ._-@:=")
            if len(token.get_secret_value()) < 32:
                raise ValueError(f"{name}: the token must have at least 32 characters")
        tokens = [t.get_secret_value() for t in moderators.values()]
        if len(set(tokens)) != len(tokens):
            raise ValueError("each moderator needs a token of their own")
        return moderators


def review_room_problems(review: ReviewConfig, rooms: Sequence[str]) -> list[str]:
    """The moderators room must not be a linked room: its notices quote held messages, which
    the room's members must not see before a moderator decides. Compared as written (an alias
    of a linked room is caught when porch resolves it, :class:`bridges.review.desk.ReviewDesk`).
    """
    if review.room is not None and review.room in rooms:
        return [
            f"moderation.review.room: {review.room} is a linked room; held messages are quoted "
            "there, so it must be a room of its own for moderators"
        ]
    return []
