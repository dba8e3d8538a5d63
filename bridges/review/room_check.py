"""``porch check --online``: will the moderators room be shown the held messages' text?

The moderators room (``moderation.review.room``) is quoted a held message only when it is no
more open than the space the message was written in (:func:`policies.review_notice.may_quote`);
otherwise it gets a pointer to the ``/review`` page. That is safe but may surprise an admin, so
the check reads the room's tier and each link's, as porch will at run time, and warns.
"""

from __future__ import annotations

from collections.abc import Sequence

from bridges.discourse.client import ForumClient
from bridges.discourse.forum_errors import ForumError
from bridges.link_tiers import category_security
from bridges.links import LinkConfig
from bridges.matrix.api import AppserviceAPI
from bridges.matrix.matrix_errors import MatrixError
from bridges.model import CategoryID, Direction, RoomID
from bridges.review.review_config import ReviewConfig
from policies.derive import room_tier
from policies.review_notice import may_quote
from policies.tiers import Tier


def review_room_warnings(
    forum: ForumClient,
    chat: AppserviceAPI,
    review: ReviewConfig,
    links: Sequence[LinkConfig],
    public_url: str | None,
) -> list[str]:
    """Links whose held messages the moderators room will not be shown (only pointed at)."""
    if review.room is None:
        return []
    path = "moderation.review.room"
    try:
        room = chat.resolve_room(review.room)
        chat.ensure_joined(room, chat.bot_user_id)
        tier = _room_tier(chat, room)
    except MatrixError as exc:
        return [f"{path}: cannot read its join rule ({exc}); until porch can, it is shown no text"]
    where = (
        f"{public_url.rstrip('/')}/review"
        if public_url
        else "the /review page (set listen.public_url so the notice can link to it)"
    )
    if not review.moderators:
        where += "; moderation.review.moderators names nobody who may sign in there"
    warnings = []
    for i, link in enumerate(links):
        for what, source in _sources(forum, chat, link):
            if may_quote(tier, source):
                continue
            warnings.append(
                f"{path}: {review.room} is {tier or 'of an unknown tier'} and links[{i}] "
                f"({link.name}) holds messages from its {source or 'unknown-tier'} {what}: "
                f"their notices there will not show the text, only point to {where}"
            )
    return warnings


def _room_tier(chat: AppserviceAPI, room: RoomID) -> Tier | None:
    rules = chat.room_state(room, "m.room.join_rules") or {}
    history = chat.room_state(room, "m.room.history_visibility") or {}
    join_rule, visibility = rules.get("join_rule"), history.get("history_visibility")
    return room_tier(
        join_rule if isinstance(join_rule, str) else None,
        visibility if isinstance(visibility, str) else None,
    )


def _sources(
    forum: ForumClient, chat: AppserviceAPI, link: LinkConfig
) -> list[tuple[str, Tier | None]]:
    """The spaces a link's held messages come from, with their tiers (``None``: unknown)."""
    sources: list[tuple[str, Tier | None]] = []
    if link.direction in (Direction.CHAT_TO_FORUM, Direction.BOTH):
        try:
            tier = _room_tier(chat, chat.resolve_room(link.room))
        except MatrixError:
            tier = None
        sources.append(("room", tier))
    if link.direction in (Direction.FORUM_TO_CHAT, Direction.BOTH):
        sources.append(("category", _category_tier(forum, link)))
    return sources


def _category_tier(forum: ForumClient, link: LinkConfig) -> Tier | None:
    wanted = str(link.forum.category)
    try:
        found = next(
            (c for c in forum.categories() if wanted in (str(c.get("id")), str(c.get("slug")))),
            None,
        )
        if found is None or not isinstance(found.get("id"), int):
            return None
        category = CategoryID(int(found["id"]))
        return category_security(category, forum.category(category), 0.0).tier
    except ForumError:
        return None
