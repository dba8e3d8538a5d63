"""The forum's ``user`` webhooks as inbox events (:class:`bridges.model.ForumUserChanged`).

The body is ``{"user": {...}}`` (``WebHookUserSerializer``); porch reads the sanction fields
from it: ``suspended_till``, ``silenced_till`` and their reasons. Moderation
(:mod:`bridges.moderation.sanctions`) acts on these events; reading them belongs to the
Discourse adapter, which knows no feature.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from bridges import codec
from bridges.model import EventKind, ForumUserChanged, ForumUsername, Platform
from bridges.store.inbox import NewEvent

#: Forum webhooks (event type ``user``) that state a user's suspension and silence. Discourse
#: sends ``user_suspended``/``user_unsuspended`` (discourse.md §1.4) and ``user_updated`` for
#: other changes; ``user_silenced``/``user_unsilenced`` are taken too, for forums that send them.
USER_EVENTS = (
    "user_suspended",
    "user_unsuspended",
    "user_updated",
    "user_silenced",
    "user_unsilenced",
)


class UserPayloadError(ValueError):
    """A ``user`` webhook body lacks what porch needs."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def parse_forum_user(event_name: str, body: Mapping[str, Any]) -> ForumUserChanged:
    """The sanctions a ``user`` webhook body states (``{"user": {...}}``,
    ``WebHookUserSerializer``): ``suspended_till``, ``silenced_till`` and their reasons.

    Raises:
        UserPayloadError: no user object, or no integer ``id`` / string ``username``.
    """
    user = body.get("user")
    if not isinstance(user, Mapping):
        raise UserPayloadError("user", "must be an object")
    user_id, username = user.get("id"), user.get("username")
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise UserPayloadError("user.id", "must be an integer")
    if not isinstance(username, str) or not username:
        raise UserPayloadError("user.username", "must be a string")

    def text(key: str) -> str | None:
        value = user.get(key)
        return value if isinstance(value, str) and value else None

    return ForumUserChanged(
        event=event_name,
        user_id=user_id,
        username=ForumUsername(username),
        staff=bool(user.get("admin") or user.get("moderator") or user.get("staff")),
        suspended_till=text("suspended_till"),
        suspend_reason=text("suspend_reason"),
        silenced_till=text("silenced_till"),
        silence_reason=text("silence_reason"),
    )


def user_event(event_name: str, keys: list[str], body: Mapping[str, Any]) -> NewEvent:
    """The inbox event of a ``user`` webhook. Its key is made of the sanction fields only, so
    the many ``user_updated`` deliveries that change nothing porch follows count once.

    Raises:
        UserPayloadError: see :func:`parse_forum_user`.
    """
    user = parse_forum_user(event_name, body)
    state = [user.suspended_till, user.suspend_reason, user.silenced_till, user.silence_reason]
    digest = hashlib.sha256(json.dumps(state).encode("utf-8")).hexdigest()[:16]
    kind = EventKind.FORUM_USER_CHANGED
    return NewEvent(
        source=Platform.FORUM,
        kind=kind,
        conversation=f"discourse:user:{user.user_id}",
        payload=codec.encode(kind, user),
        keys=(*keys, f"discourse:user:{user.user_id}:{digest}"),
    )
