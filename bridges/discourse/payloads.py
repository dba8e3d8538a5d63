"""Discourse webhook payloads, turned into porch's neutral events.

Discourse serialises posts with ``WebHookPostSerializer`` and topics with
``WebHookTopicViewSerializer`` (Discourse's ``app/serializers/``). Plugins add
keys of their own, so unknown keys are ignored; a key porch needs that is missing or of the
wrong type is a :class:`PayloadError` naming its path in the body (``post.topic_id``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from bridges import codec
from bridges.discourse.reviewable_payloads import EVENTS as REVIEWABLE_EVENTS
from bridges.discourse.reviewable_payloads import ReviewablePayloadError, reviewable_event
from bridges.discourse.user_payloads import USER_EVENTS, UserPayloadError, user_event
from bridges.model import (
    Author,
    CategoryID,
    EventKind,
    ForumCategory,
    ForumGroupUser,
    ForumLike,
    ForumPost,
    ForumTopic,
    ForumUsername,
    Platform,
    PostID,
    TopicID,
)
from bridges.store.inbox import NewEvent
from bridges.store.limits import BIGINT_MAX, BIGINT_MIN, INT_MAX, text_problem

#: ``X-Discourse-Event`` names porch records, and the inbox kind each becomes. Every other
#: event is acknowledged and ignored: ``topic_created`` because the first post's
#: ``post_created`` carries everything porch needs, user/group/... events because porch
#: reads those facts from the API when it needs them.
EVENT_KINDS: Mapping[str, EventKind] = {
    "post_created": EventKind.POST_CREATED,
    "post_edited": EventKind.POST_EDITED,
    "post_destroyed": EventKind.POST_DESTROYED,
    "post_recovered": EventKind.POST_RECOVERED,
    "topic_edited": EventKind.TOPIC_EDITED,
    "topic_destroyed": EventKind.TOPIC_DESTROYED,
    "topic_recovered": EventKind.TOPIC_RECOVERED,
    # Listing or unlisting a topic arrives as a status update, not as topic_edited; a topic
    # going invisible must be retracted from where porch carried it.
    "topic_visible_status_updated": EventKind.TOPIC_EDITED,
    # A like (event type ``like``, sent only to webhooks subscribed to likes); taking a like
    # back fires nothing.
    "post_liked": EventKind.POST_LIKED,
    # A category's security decides its tier (bridges/link_tiers.py): porch reads it again when the
    # forum says the category changed.
    "category_created": EventKind.CATEGORY_CHANGED,
    "category_updated": EventKind.CATEGORY_CHANGED,
    "category_destroyed": EventKind.CATEGORY_DESTROYED,
    # Group membership decides who belongs in a managed room (bridges/membership): the event
    # names of the initializer, and the granular type names of a newer forum (§1.4).
    "user_added_to_group": EventKind.GROUP_USER_ADDED,
    "user_removed_from_group": EventKind.GROUP_USER_REMOVED,
    "group_user_added": EventKind.GROUP_USER_ADDED,
    "group_user_removed": EventKind.GROUP_USER_REMOVED,
    # The forum's review queue: posts porch made as a member that await its moderators
    # (bridges/review/forum_queue.py).
    **dict.fromkeys(REVIEWABLE_EVENTS, EventKind.FORUM_REVIEWABLE),
    # Suspensions and silences follow into bridged rooms (bridges/moderation/sanctions.py).
    **dict.fromkeys(USER_EVENTS, EventKind.FORUM_USER_CHANGED),
}

_CATEGORY_KINDS = frozenset({EventKind.CATEGORY_CHANGED, EventKind.CATEGORY_DESTROYED})
_GROUP_USER_KINDS = frozenset({EventKind.GROUP_USER_ADDED, EventKind.GROUP_USER_REMOVED})


class PayloadError(ValueError):
    """A webhook body lacks a field porch needs, or has it with the wrong type."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def root_key(event_name: str) -> str | None:
    """The body's root key (the event *type*) for a recorded event name, else None."""
    kind = EVENT_KINDS.get(event_name)
    if kind is None:
        return None
    if kind is EventKind.POST_LIKED:
        return "like"
    if kind in _CATEGORY_KINDS:
        return "category"
    if kind in _GROUP_USER_KINDS:
        return "group_user"
    if kind is EventKind.FORUM_REVIEWABLE:
        return "reviewable"
    if kind is EventKind.FORUM_USER_CHANGED:
        return "user"
    return "topic" if kind.value.startswith("forum.topic_") else "post"


# --- the payload shapes porch reads ------------------------------------------------------------
#
# Strict: Discourse sends well-typed JSON, and a string where an id belongs means the body is not
# what porch thinks it is. Nullable keys are nullable because Discourse sends null for them
# (``category_id`` of a private message, ``name`` when ``enable_names`` is off, ...).


#: A post's number is stored in an ``Integer`` column (``messages.post_number``).
_PostNumber = Annotated[int, Field(ge=0, le=INT_MAX)]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class _Post(_Shape):
    id: int
    topic_id: int
    post_number: _PostNumber
    username: str
    user_id: int
    raw: str
    cooked: str
    topic_title: str | None = None
    topic_slug: str | None = None
    category_id: int | None = None
    category_slug: str | None = None
    reply_to_post_number: _PostNumber | None = None
    version: int = 1
    post_type: int = 1
    topic_archetype: str | None = None
    hidden: bool | None = None
    user_deleted: bool | None = None
    deleted_at: str | None = None
    created_at: str | None = None
    name: str | None = None
    avatar_template: str | None = None
    staff: bool | None = None
    trust_level: int | None = None
    primary_group_name: str | None = None


class _PostBody(_Shape):
    post: _Post


class _BasicUser(_Shape):
    id: int
    username: str
    name: str | None = None
    avatar_template: str | None = None


class _Tag(_Shape):
    name: str


class _Topic(_Shape):
    id: int
    title: str
    slug: str | None = None
    category_id: int | None = None
    # Tags are names; some Discourse versions serialise them as objects with a ``name``.
    tags: list[str | _Tag] | None = None
    archetype: str | None = None
    visible: bool | None = None
    deleted_at: str | None = None
    created_by: _BasicUser | None = None


class _TopicBody(_Shape):
    topic: _Topic


class _Category(_Shape):
    id: int
    slug: str | None = None
    name: str | None = None
    read_restricted: bool | None = None


class _CategoryBody(_Shape):
    category: _Category


class _GroupUser(_Shape):
    group_id: int
    user_id: int


class _GroupUserBody(_Shape):
    group_user: _GroupUser


class _Like(_Shape):
    post: _Post
    user: _BasicUser


class _LikeBody(_Shape):
    like: _Like


_MESSAGES = {
    "missing": "is required",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "dict_type": "expected an object",
    "list_type": "expected a list",
}


#: The labels pydantic adds to an error's location for the member of a union that failed.
_UNION_LABELS = frozenset({"str", "int", "bool", "none", "_Tag"})


#: Deeper than any body Discourse serialises; the bound keeps later steps (digests, encoding)
#: clear of Python's recursion limit.
_MAX_DEPTH = 64


def json_problem(body: Any) -> str | None:
    """Why a webhook body holds a value porch cannot record, with its path, or None.

    Every number must fit the store's ``bigint`` columns (Discourse's own ids are bigint at
    most), be finite (Python's JSON reader accepts ``NaN``) and every text be Unicode without
    NUL (PostgreSQL text holds none, and Discourse stores its text there). Iterative, so no
    nesting breaks it.
    """
    stack: list[tuple[Any, str, int]] = [(body, "(body)", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > _MAX_DEPTH:
            return f"{path}: nested deeper than {_MAX_DEPTH} levels"
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int):
            if not BIGINT_MIN <= item <= BIGINT_MAX:
                return f"{path}: the number is out of range (64-bit)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{path}: the number is not finite"
        elif isinstance(item, str):
            problem = text_problem(item, limit=len(item))
            if problem is not None:
                return f"{path}: the text {problem}"
        elif isinstance(item, Mapping):
            for key, inner in item.items():
                where = key if path == "(body)" else f"{path}.{key}"
                if text_problem(str(key), limit=len(str(key))) is not None:
                    return f"{path}: a key is not valid text"
                stack.append((inner, where, depth + 1))
        elif isinstance(item, list):
            stack.extend((inner, f"{path}[{i}]", depth + 1) for i, inner in enumerate(item))
    return None


def _payload_error(exc: ValidationError) -> PayloadError:
    """The first validation error, as a path in the body and a short message."""
    errors = exc.errors()
    # A union (``str | _Tag``, ``int | None``) reports one error per member; the path without
    # pydantic's member labels is the same for all, so the first one is the one to show.
    error: ErrorDetails = errors[0]
    path = ""
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _UNION_LABELS:
            continue
        else:
            path += f".{part}" if path else part
    kind = error["type"]
    message = _MESSAGES.get(kind, error["msg"][:1].lower() + error["msg"][1:])
    return PayloadError(path or "(body)", message)


def _validate(shape: type[_Shape], body: Mapping[str, Any]) -> Any:
    if not isinstance(body, Mapping):
        raise PayloadError("(body)", "expected a JSON object")
    try:
        return shape.model_validate(dict(body))
    except ValidationError as exc:
        raise _payload_error(exc) from None


def parse_post(body: Mapping[str, Any]) -> ForumPost:
    """The post of a ``post_*`` webhook body (``{"post": {...}}``).

    Raises:
        PayloadError: a field porch needs is missing or has the wrong type.
    """
    return _forum_post(_validate(_PostBody, body).post)


def _forum_post(post: _Post) -> ForumPost:
    author = Author(
        username=ForumUsername(post.username),
        user_id=post.user_id,
        name=post.name or None,
        avatar_template=post.avatar_template,
        staff=bool(post.staff),
        trust_level=post.trust_level or 0,
        primary_group_name=post.primary_group_name,
    )
    return ForumPost(
        post_id=PostID(post.id),
        topic_id=TopicID(post.topic_id),
        post_number=post.post_number,
        author=author,
        raw=post.raw,
        cooked=post.cooked,
        topic_title=post.topic_title or "",
        topic_slug=post.topic_slug or "",
        category_id=None if post.category_id is None else CategoryID(post.category_id),
        category_slug=post.category_slug,
        reply_to_post_number=post.reply_to_post_number,
        version=post.version,
        post_type=post.post_type,
        archetype=post.topic_archetype or "regular",
        hidden=bool(post.hidden),
        user_deleted=bool(post.user_deleted),
        deleted=post.deleted_at is not None,
        created_at=post.created_at,
    )


def parse_topic(body: Mapping[str, Any]) -> ForumTopic:
    """The topic of a ``topic_*`` webhook body (``{"topic": {...}}``).

    Raises:
        PayloadError: a field porch needs is missing or has the wrong type.
    """
    topic: _Topic = _validate(_TopicBody, body).topic
    author = None
    if topic.created_by is not None:
        author = Author(
            username=ForumUsername(topic.created_by.username),
            user_id=topic.created_by.id,
            name=topic.created_by.name or None,
            avatar_template=topic.created_by.avatar_template,
        )
    return ForumTopic(
        topic_id=TopicID(topic.id),
        title=topic.title,
        slug=topic.slug or "",
        category_id=None if topic.category_id is None else CategoryID(topic.category_id),
        tags=_tag_names(topic.tags),
        archetype=topic.archetype or "regular",
        visible=True if topic.visible is None else topic.visible,
        deleted=topic.deleted_at is not None,
        author=author,
    )


def parse_like(body: Mapping[str, Any]) -> ForumLike:
    """The like of a ``post_liked`` webhook body (``{"like": {"post": {...}, "user": {...}}}``,
    ``WebHookLikeSerializer``; discourse.md §1.4).

    Raises:
        PayloadError: a field porch needs is missing or has the wrong type.
    """
    like: _Like = _validate(_LikeBody, body).like
    liker = Author(
        username=ForumUsername(like.user.username),
        user_id=like.user.id,
        name=like.user.name or None,
        avatar_template=like.user.avatar_template,
    )
    return ForumLike(post=_forum_post(like.post), liker=liker)


def parse_category(body: Mapping[str, Any]) -> ForumCategory:
    """The category of a ``category_*`` webhook body (``{"category": {...}}``,
    ``WebHookCategorySerializer``; discourse.md §1.4).

    Raises:
        PayloadError: a field porch needs is missing or has the wrong type.
    """
    category: _Category = _validate(_CategoryBody, body).category
    return ForumCategory(
        CategoryID(category.id), category.slug, category.name, category.read_restricted
    )


def parse_group_user(body: Mapping[str, Any]) -> ForumGroupUser:
    """The membership of a ``group_user`` webhook body (``{"group_user": {"group_id": ..,
    "user_id": ..}}``, ``WebHookGroupUserSerializer``; discourse.md §1.4).

    Raises:
        PayloadError: a field porch needs is missing or has the wrong type.
    """
    member: _GroupUser = _validate(_GroupUserBody, body).group_user
    return ForumGroupUser(member.group_id, member.user_id)


def _tag_names(tags: list[str | _Tag] | None) -> tuple[str, ...]:
    return tuple(t if isinstance(t, str) else t.name for t in tags or ())


def inbox_event(
    event_name: str, delivery_id: str | None, body: Mapping[str, Any]
) -> NewEvent | None:
    """The inbox event for one webhook delivery, or None when porch does not record it.

    ``event_name`` is the ``X-Discourse-Event`` header, ``delivery_id`` the
    ``X-Discourse-Event-Id`` header. Besides the delivery id, every event carries a key made
    from its content: Discourse's automatic retries send the same body under a *new* delivery
    id (discourse.md §1.2), and two webhooks pointing at porch send the same event twice.

    Raises:
        PayloadError: a field porch needs is missing or has the wrong type.
    """
    kind = EVENT_KINDS.get(event_name)
    if kind is None:
        return None
    keys: list[str] = []
    if delivery_id:
        keys.append(f"discourse:delivery:{delivery_id}")
    if kind is EventKind.POST_LIKED:
        like = parse_like(body)
        # Nothing in a like's body tells a like from a second like after taking it back, so
        # only the delivery id identifies it; delivering the same like twice is harmless (the
        # relay keeps one reaction per liker and post).
        if not delivery_id:
            keys.append(f"discourse:post_liked:{like.post.post_id}:{like.liker.username.lower()}")
        topic_id, payload = like.post.topic_id, codec.encode(kind, like)
    elif kind in _CATEGORY_KINDS:
        category = parse_category(body)
        inner = body.get("category")
        keys.append(f"discourse:{event_name}:{category.category_id}:{_digest([inner])}")
        return NewEvent(
            source=Platform.FORUM,
            kind=kind,
            conversation=f"discourse:category:{category.category_id}",
            payload=codec.encode(kind, category),
            keys=tuple(keys),
        )
    elif kind is EventKind.FORUM_USER_CHANGED:
        try:
            return user_event(event_name, keys, body)
        except UserPayloadError as exc:
            raise PayloadError(exc.path, exc.message) from exc
    elif kind is EventKind.FORUM_REVIEWABLE:
        try:
            return reviewable_event(event_name, keys, body)
        except ReviewablePayloadError as exc:
            raise PayloadError(exc.path, exc.message) from exc
    elif kind in _GROUP_USER_KINDS:
        member = parse_group_user(body)
        # Adding, removing and adding again has the same body each time: the delivery id tells
        # them apart, and a second handling of one is harmless (porch reads the groups again).
        if not delivery_id:
            keys.append(f"discourse:{kind.value}:{member.group_id}:{member.user_id}")
        return NewEvent(
            source=Platform.FORUM,
            kind=kind,
            # One conversation for all membership work, so that it happens in order.
            conversation="porch:membership",
            payload=codec.encode(kind, member),
            keys=tuple(keys),
        )
    elif root_key(event_name) == "post":
        post = parse_post(body)
        # The version changes on every revision (including the author's self-delete, which is a
        # revision); deleted_at tells a second deletion after a recovery from the first. An edit
        # within the forum's grace period ("ninja edit") keeps the version, so a digest of what
        # the edit changes tells two of those apart.
        deleted_at = _raw(body, "post", "deleted_at") or ""
        digest = _digest([_raw(body, "post", k) for k in _POST_KEY_FIELDS])
        keys.append(f"discourse:{event_name}:{post.post_id}:v{post.version}:{deleted_at}:{digest}")
        topic_id, payload = post.topic_id, codec.encode(kind, post)
    else:
        topic = parse_topic(body)
        keys.append(f"discourse:{event_name}:{topic.topic_id}:{_topic_digest(topic, body)}")
        topic_id, payload = topic.topic_id, codec.encode(kind, topic)
    return NewEvent(
        source=Platform.FORUM,
        kind=kind,
        conversation=f"discourse:topic:{topic_id}",
        payload=payload,
        keys=tuple(keys),
    )


def _raw(body: Mapping[str, Any], root: str, key: str) -> Any:
    inner = body.get(root)
    return inner.get(key) if isinstance(inner, Mapping) else None


#: The post fields whose change makes a ``post_*`` event new even at the same version.
_POST_KEY_FIELDS = ("raw", "updated_at", "hidden", "user_deleted")


def _topic_digest(topic: ForumTopic, body: Mapping[str, Any]) -> str:
    """A short stable digest of the topic fields porch acts on."""
    return _digest(
        [
            topic.title,
            topic.category_id,
            sorted(topic.tags),
            topic.visible,
            _raw(body, "topic", "deleted_at"),
        ]
    )


def _digest(fields: list[Any]) -> str:
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
