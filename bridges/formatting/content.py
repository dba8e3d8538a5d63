"""The values the formatting functions return."""

from __future__ import annotations

from dataclasses import dataclass

from bridges.model import UserID


@dataclass(frozen=True, slots=True)
class Mention:
    """A forum ``@username`` and the Matrix user it became a pill for."""

    username: str
    user_id: UserID


@dataclass(frozen=True, slots=True)
class MatrixContent:
    """What goes into an ``m.room.message``.

    ``formatted_body`` (format ``org.matrix.custom.html``) is ``None`` when the message has no
    formatting beyond paragraphs and line breaks, so the plain ``body`` says it all. ``mentions``
    lists the pills in ``formatted_body``, for the event's ``m.mentions``.
    """

    body: str
    formatted_body: str | None
    mentions: tuple[Mention, ...] = ()

    @property
    def mentioned_user_ids(self) -> list[UserID]:
        """The distinct users pilled, in order of first mention (``m.mentions.user_ids``)."""
        return list(dict.fromkeys(m.user_id for m in self.mentions))
