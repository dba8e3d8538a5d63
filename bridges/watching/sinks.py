"""Who reads each place a watch sends to, so that nothing goes where its audience may not read.

A watch's alerts and digests leave porch through its destinations: a Matrix room, email
addresses, a webhook. Each is checked, when it is sent to, against the reading groups of what
it would receive (:func:`policies.watching.audience_may_read`):

- an alert room is read by its members: it may receive restricted content only while it is not
  open (join rule ``public`` or history ``world_readable`` let anyone read it; spec:
  https://spec.matrix.org/v1.13/client-server-api/#mroomjoin_rules) and every member who has
  joined or is invited (other than porch's own bot and ghosts) is a linked forum user whose
  groups, as porch last recorded them, may read it;
- email addresses and webhooks are read by people porch cannot name: they receive in full only
  what everyone may read; for anything else an alert carries a link and no text
  (:func:`withheld`), and a digest leaves it out.

Reading a room's state or members fails like any send (the channel is tried again later);
nothing is sent on a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bridges.matrix.api import AppserviceAPI
from bridges.model import RoomID, UserID
from bridges.store.link_requests import IdentityGroups
from policies.derive import room_tier
from policies.tiers import Tier
from policies.watching import EVERYONE

#: An audience: each reader's forum groups; ``None`` when porch cannot name the readers.
Audience = list[frozenset[str]] | None

#: The memberships that read a room (an invited user reads it on joining, history included).
_READING = ("join", "invite")


class Audiences:
    """The audience of a watch's Matrix room, read from the homeserver when asked."""

    def __init__(
        self,
        chat: AppserviceAPI | None,
        groups: IdentityGroups,
        is_porch: Callable[[str], bool],
    ) -> None:
        self.chat = chat
        self.groups = groups
        self.is_porch = is_porch

    def room(self, room_id: RoomID) -> Audience:
        """The forum groups of each person who reads ``room_id``; ``None`` when anyone may
        read it or its join rule is unknown.

        Raises:
            MatrixError: the homeserver did not show the room's state or members.
        """
        if self.chat is None:
            return None
        rules = self.chat.room_state(room_id, "m.room.join_rules") or {}
        history = self.chat.room_state(room_id, "m.room.history_visibility") or {}
        tier = room_tier(_text(rules.get("join_rule")), _text(history.get("history_visibility")))
        if tier is None or tier is Tier.OPEN:
            return None
        readers = []
        for user, membership in self.chat.memberships(room_id).items():
            if membership not in _READING or self.is_porch(user):
                continue
            readers.append(self.groups.of(UserID(user)) | {EVERYONE})
        return readers


def porch_accounts(bot_user_id: str, ghost_regex: str | None) -> Callable[[str], bool]:
    """Whether a Matrix user is porch's bot or one of its ghosts (nobody reads through them)."""
    ghosts = None if ghost_regex is None else re.compile(ghost_regex)

    def is_porch(user: str) -> bool:
        return user == bot_user_id or (ghosts is not None and ghosts.fullmatch(user) is not None)

    return is_porch


def withheld(body: dict[str, Any]) -> dict[str, Any]:
    """An alert's body for an audience that may not read its source: which watch and why, a
    forum link without the topic's slug (the forum checks who opens it) and the Matrix link
    (opaque ids); no title, terms, author or figures."""
    return {
        "watch": body.get("watch"),
        "kind": body.get("kind"),
        "title": "a thread in a restricted space (open the link or the dashboard to read it)",
        "forum_url": body.get("withheld_url"),
        "matrix_url": body.get("matrix_url"),
        "terms": [],
        "detail": "",
        "withheld": True,
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
