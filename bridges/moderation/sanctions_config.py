"""Config of the policy lists porch follows and of the sanctions it carries across
(``moderation.policy_lists`` and ``moderation.sanctions``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from bridges.configbase import Section


class PolicyListConfig(Section):
    """One Matrix policy room (MSC2313) porch follows: its ``m.ban`` user and server rules
    stop the matching users' messages from crossing."""

    #: The list room: an id (``!abc``) or an alias (``#list:example.org``). Porch's bot joins
    #: it (invite the bot to a private list).
    room: str
    #: Also ban matching members from the bridged rooms (never a room's moderators).
    ban_from_rooms: bool = False
    #: Also silence the matching users' linked forum accounts (never forum staff).
    silence_on_forum: bool = False

    @field_validator("room")
    @classmethod
    def _room(cls, value: str) -> str:
        if not value.startswith(("!", "#")):
            raise ValueError("must be a room id (!...) or a room alias (#name:server)")
        return value


class SanctionsConfig(Section):
    """How sanctions on one platform follow on the other. A forum suspension always bans the
    user's ghost and linked Matrix account from bridged rooms, a silence mutes them."""

    #: A member banned from a bridged room by a room moderator gets their linked forum
    #: account silenced.
    chat_ban_silences_forum: bool = False
    #: What a room moderator's redaction of a bridged message does to its forum post.
    chat_redaction: Literal["ignore", "hide", "delete"] = "ignore"
    #: How long a forum silence porch applies lasts, in days.
    silence_days: int = Field(default=3650, ge=1)


PolicyLists = tuple[PolicyListConfig, ...]
