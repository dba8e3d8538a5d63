"""Group membership in the sandbox forum: the members list and the ``group_user`` webhooks.

- ``GET /groups/{name}/members.json?limit=&offset=`` (``GroupsController#members``; reference
  §2.3): ``{members, owners, meta: {total, limit, offset}}``, ``limit`` at most 1000, default 50.
  Automatic groups list the users Discourse keeps in them (``everyone`` has no rows).
- Adding a member fires ``user_added_to_group`` and removing one ``user_removed_from_group``,
  event type ``group_user``, body ``{"group_user": WebHookGroupUserSerializer}``: ``id``,
  ``group_id``, ``user_id``, ``notification_level``, ``created_at`` (reference §1.4).
"""

from __future__ import annotations

from typing import Any

from sandbox.forum_model import SandboxRejection, User, not_found
from sandbox.forum_render import iso
from sandbox.forum_serialize import avatar_template
from sandbox.forum_state import ForumState

#: ``GroupsController#members``: the most a page may hold, and what it holds unasked.
MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
#: ``GroupUser.notification_levels[:watching]``, what a new member of a custom group gets.
WATCHING = 3


def members(state: ForumState, name: str) -> list[User]:
    """The group's members, by user id (``everyone`` is no table of members)."""
    if name not in state.groups:
        raise not_found()
    if name == "everyone":
        return []
    return sorted(
        (u for u in state.users.values() if u.id > 0 and name in state.group_names(u)),
        key=lambda u: u.id,
    )


def members_json(state: ForumState, name: str, limit: int | None, offset: int | None) -> Any:
    """One page of ``/groups/{name}/members.json``."""
    if limit is not None and not 0 < limit <= MAX_LIMIT:
        raise SandboxRejection(
            400, [f"The limit must be between 1 and {MAX_LIMIT}"], "invalid_parameters"
        )
    if offset is not None and offset < 0:
        raise SandboxRejection(400, ["The offset must not be negative"], "invalid_parameters")
    size, start = limit or DEFAULT_LIMIT, offset or 0
    everyone = members(state, name)
    page = everyone[start : start + size]
    return {
        "members": [_member(state, u) for u in page],
        "owners": [],
        "meta": {"total": len(everyone), "limit": size, "offset": start},
    }


def _member(state: ForumState, user: User) -> dict[str, Any]:
    # The document types the dates as strings; a member who never posted shows when they
    # joined instead (the double keeps no separate "added at" or "seen at").
    joined = iso(user.created_at)
    return {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "avatar_template": avatar_template(state, user),
        "title": user.title,
        "last_posted_at": iso(user.last_posted_at) if user.last_posted_at else joined,
        "last_seen_at": joined,
        "added_at": joined,
        "timezone": "UTC",
    }


def add_member(state: ForumState, user: User, name: str) -> None:
    """Put ``user`` in the custom group ``name`` (made as needed); fires
    ``user_added_to_group``. Already a member: nothing happens, as on the forum."""
    group = state._ensure_group(name)
    if group.automatic:
        raise ValueError(f"{name!r} is an automatic group; the forum fills it itself")
    if name in user.groups:
        return
    user.groups.append(name)
    state._emit("group_user", "user_added_to_group", _group_user(group.id, user))


def remove_member(state: ForumState, user: User, name: str) -> None:
    """Take ``user`` out of the custom group ``name``; fires ``user_removed_from_group``."""
    group = state.groups.get(name)
    if group is None or name not in user.groups:
        return
    user.groups.remove(name)
    state._emit("group_user", "user_removed_from_group", _group_user(group.id, user))


def _group_user(group_id: int, user: User) -> dict[str, Any]:
    return {
        "id": group_id * 100000 + user.id,
        "group_id": group_id,
        "user_id": user.id,
        "notification_level": WATCHING,
        "created_at": iso(user.created_at),
    }
