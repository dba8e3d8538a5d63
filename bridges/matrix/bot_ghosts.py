"""Bot mode's stand-in for :class:`bridges.matrix.ghosts.Ghosts`: there are no ghosts.

A plain account cannot register users or act as them, so porch's account speaks for every
forum author and the message names them (:mod:`bridges.matrix.bot_format`). The relay calls
the same methods in both modes; here they all come down to that one account.
"""

from __future__ import annotations

from bridges.matrix.api import AppserviceAPI
from bridges.model import Author, ForumUsername, RoomID, UserID


class BotGhosts:
    """Every forum author is porch's account."""

    def __init__(self, api: AppserviceAPI) -> None:
        self.api = api

    def user_id_for(self, username: ForumUsername) -> UserID:
        """The account that speaks for ``username``: porch's own (it has no ghost record, so a
        forum @mention does not become a pill of the bot)."""
        return self.api.bot_user_id

    def username_for(self, user_id: str) -> ForumUsername | None:
        """No Matrix user stands for a forum user in bot mode."""
        return None

    def is_ours(self, user_id: str) -> bool:
        """Whether porch itself speaks as ``user_id``: only its account."""
        return user_id == self.api.bot_user_id

    def ensure(self, author: Author, avatar_url: str | None = None) -> UserID:
        """Porch's account; no profile to keep in step (the message names the author)."""
        return self.api.bot_user_id

    def ensure_in_room(self, user_id: UserID, room_id: RoomID) -> None:
        """Make porch's account a member (it joins where it was invited)."""
        self.api.ensure_joined(room_id, self.api.bot_user_id)
