"""Neutral events and identifiers shared by both platforms.

Everything that crosses between Discourse and Matrix is expressed in these types first, so that
the relay and the policies never handle a raw webhook payload or a raw Matrix event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NewType

# --- Matrix identifiers -------------------------------------------------------------------------

UserID = NewType("UserID", str)
UserID.__doc__ = "A Matrix user id (``@alice:example.org``)."
RoomID = NewType("RoomID", str)
RoomID.__doc__ = "A Matrix room id. Opaque: since room v12 it carries no server name."
RoomAlias = NewType("RoomAlias", str)
RoomAlias.__doc__ = "A Matrix room alias (``#town-square:example.org``)."
EventID = NewType("EventID", str)
EventID.__doc__ = "A Matrix event id (``$...``)."
ContentURI = NewType("ContentURI", str)
ContentURI.__doc__ = "A Matrix content URI (``mxc://server/media``)."

# --- Discourse identifiers ----------------------------------------------------------------------

PostID = NewType("PostID", int)
PostID.__doc__ = "A Discourse post id (unique across the forum)."
TopicID = NewType("TopicID", int)
TopicID.__doc__ = "A Discourse topic id."
CategoryID = NewType("CategoryID", int)
CategoryID.__doc__ = "A Discourse category id."
ForumUsername = NewType("ForumUsername", str)
ForumUsername.__doc__ = "A Discourse username, as the forum spells it."

LinkName = NewType("LinkName", str)
LinkName.__doc__ = "The name of a configured link between a category and a room."


class Platform(StrEnum):
    FORUM = "discourse"
    CHAT = "matrix"


class Direction(StrEnum):
    """Which way a link carries messages."""

    FORUM_TO_CHAT = "forum-to-chat"
    CHAT_TO_FORUM = "chat-to-forum"
    BOTH = "both"


class EventKind(StrEnum):
    """The kinds of neutral event the inbox holds.

    The value is stored in the inbox; never rename one, only add.
    """

    POST_CREATED = "forum.post_created"
    POST_EDITED = "forum.post_edited"
    POST_DESTROYED = "forum.post_destroyed"
    POST_RECOVERED = "forum.post_recovered"
    TOPIC_EDITED = "forum.topic_edited"
    TOPIC_DESTROYED = "forum.topic_destroyed"
    TOPIC_RECOVERED = "forum.topic_recovered"
    POST_LIKED = "forum.post_liked"
    CHAT_MESSAGE = "matrix.message"
    CHAT_REDACTION = "matrix.redaction"
    CHAT_REACTION = "matrix.reaction"
    CHAT_INVITE = "matrix.invite"
    IDENTITY_LINKED = "porch.identity_linked"
    #: A category was created or its settings (security) changed: its tier is read again.
    CATEGORY_CHANGED = "forum.category_changed"
    CATEGORY_DESTROYED = "forum.category_destroyed"
    #: A room's join rule or history visibility changed: its tier follows.
    ROOM_SECURITY_CHANGED = "matrix.room_security"
    #: A forum user joined or left a group (``group_user`` webhooks): room membership follows.
    GROUP_USER_ADDED = "forum.group_user_added"
    GROUP_USER_REMOVED = "forum.group_user_removed"
    #: Someone knocked on a room (``m.room.member`` with ``membership: knock``).
    CHAT_KNOCK = "matrix.knock"
    #: Porch's periodic reconciliation of managed rooms' membership (:mod:`bridges.membership`).
    MEMBERSHIP_REFRESH = "porch.membership_refresh"
    #: A forum user was suspended, unsuspended, silenced or changed (``user_*`` webhooks):
    #: sanctions follow into the bridged rooms (:mod:`bridges.moderation.sanctions`).
    FORUM_USER_CHANGED = "forum.user_changed"
    #: A member was banned from a room (``m.room.member`` with ``membership: ban``).
    CHAT_BAN = "matrix.ban"
    #: A rule of a policy room changed (``m.policy.rule.*``, MSC2313).
    POLICY_RULE_CHANGED = "matrix.policy_rule"
    #: A moderator approved or rejected a held crossing (:mod:`bridges.review`).
    REVIEW_DECIDED = "porch.review_decided"
    #: The forum's review queue changed (``reviewable_*`` webhooks).
    FORUM_REVIEWABLE = "forum.reviewable"


@dataclass(frozen=True, slots=True)
class Author:
    """A forum author as the webhook describes them."""

    username: ForumUsername
    user_id: int
    name: str | None = None
    avatar_template: str | None = None
    staff: bool = False
    trust_level: int = 0
    primary_group_name: str | None = None

    @property
    def display_name(self) -> str:
        return self.name or self.username


@dataclass(frozen=True, slots=True)
class ForumPost:
    """A Discourse post, as carried by a ``post_*`` webhook.

    ``raw`` is the author's markdown; ``cooked`` the forum's rendered HTML with relative URLs.
    """

    post_id: PostID
    topic_id: TopicID
    post_number: int
    author: Author
    raw: str
    cooked: str
    topic_title: str
    topic_slug: str
    category_id: CategoryID | None
    category_slug: str | None = None
    reply_to_post_number: int | None = None
    version: int = 1
    post_type: int = 1
    archetype: str = "regular"
    hidden: bool = False
    user_deleted: bool = False
    deleted: bool = False
    created_at: str | None = None

    @property
    def is_first_post(self) -> bool:
        return self.post_number == 1

    @property
    def is_private_message(self) -> bool:
        return self.archetype == "private_message"


@dataclass(frozen=True, slots=True)
class ForumTopic:
    """A Discourse topic, as carried by a ``topic_*`` webhook."""

    topic_id: TopicID
    title: str
    slug: str
    category_id: CategoryID | None
    tags: tuple[str, ...] = ()
    archetype: str = "regular"
    visible: bool = True
    deleted: bool = False
    author: Author | None = None


@dataclass(frozen=True, slots=True)
class ForumLike:
    """A Discourse like, as carried by a ``post_liked`` webhook (event type ``like``).

    Discourse sends no webhook when a like is taken back, so there is no "unliked" event.
    """

    post: ForumPost
    liker: Author


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A Matrix ``m.room.message`` (or its edit), reduced to what crossing needs.

    ``body``/``formatted_body`` have reply fallbacks already stripped. For an edit,
    ``replaces`` names the original event and the content is the new content.
    """

    event_id: EventID
    room_id: RoomID
    sender: UserID
    msgtype: str
    body: str
    formatted_body: str | None = None
    thread_root: EventID | None = None
    in_reply_to: EventID | None = None
    replaces: EventID | None = None
    url: ContentURI | None = None
    info: dict[str, object] = field(default_factory=dict)
    origin_server_ts: int = 0


@dataclass(frozen=True, slots=True)
class ChatRedaction:
    """A Matrix ``m.room.redaction``."""

    event_id: EventID
    room_id: RoomID
    sender: UserID
    redacts: EventID
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ChatReaction:
    """A Matrix ``m.reaction`` annotation."""

    event_id: EventID
    room_id: RoomID
    sender: UserID
    relates_to: EventID
    key: str


@dataclass(frozen=True, slots=True)
class ChatInvite:
    """A Matrix invite (``m.room.member`` with ``membership: invite``) of ``invitee``."""

    event_id: EventID
    room_id: RoomID
    sender: UserID
    invitee: UserID
    is_direct: bool = False


@dataclass(frozen=True, slots=True)
class IdentityLinked:
    """The forum confirmed who a Matrix user is (:mod:`bridges.identity`); the bot tells them
    in the direct chat where they asked."""

    matrix_user_id: UserID
    room_id: RoomID
    forum_username: ForumUsername


@dataclass(frozen=True, slots=True)
class ForumCategory:
    """A Discourse category, as carried by a ``category_*`` webhook (``read_restricted`` as the
    forum sent it; porch reads the full security from the API before it trusts a tier)."""

    category_id: CategoryID
    slug: str | None = None
    name: str | None = None
    read_restricted: bool | None = None


@dataclass(frozen=True, slots=True)
class RoomSecurityChanged:
    """An ``m.room.join_rules`` or ``m.room.history_visibility`` state event; ``value`` is its
    ``join_rule`` / ``history_visibility`` (``None`` when the content has none)."""

    event_id: EventID
    room_id: RoomID
    sender: UserID
    event_type: str
    value: str | None = None


@dataclass(frozen=True, slots=True)
class ForumGroupUser:
    """A ``user_added_to_group`` / ``user_removed_from_group`` webhook
    (``WebHookGroupUserSerializer``): ids only; porch reads the user's groups again."""

    group_id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class ChatKnock:
    """A knock on a room: ``sender`` asks to be let in (``reason`` as they gave it)."""

    event_id: EventID
    room_id: RoomID
    sender: UserID
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class MembershipRefresh:
    """Reconcile the membership of managed rooms with the forum's groups (``link``: one link's
    room, or every managed room when ``None``)."""

    link: LinkName | None = None


@dataclass(frozen=True, slots=True)
class ForumUserChanged:
    """A ``user_*`` webhook (``WebHookUserSerializer``), reduced to the sanctions it states:
    ``suspended_till`` / ``silenced_till`` as the forum sent them (``None``: not sanctioned)."""

    event: str
    user_id: int
    username: ForumUsername
    staff: bool = False
    suspended_till: str | None = None
    suspend_reason: str | None = None
    silenced_till: str | None = None
    silence_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ChatBan:
    """``sender`` banned ``target`` from a room (``reason`` as they gave it)."""

    event_id: EventID
    room_id: RoomID
    sender: UserID
    target: UserID
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyRuleChanged:
    """An ``m.policy.rule.*`` state event (MSC2313). ``entity`` is ``None`` when the rule was
    removed (content emptied: "invalid or missing fields" mean no rule)."""

    event_id: EventID
    room_id: RoomID
    sender: UserID
    event_type: str
    state_key: str
    entity: str | None = None
    recommendation: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewDecided:
    """A moderator decided on held crossing ``item_id`` (``approved`` or ``rejected``)."""

    item_id: int
    state: str
    decided_by: str


@dataclass(frozen=True, slots=True)
class ForumReviewable:
    """A ``reviewable_*`` webhook: an item of the forum's own review queue. ``status`` as a
    word (``pending``, ``approved``, ``rejected``, ``ignored``, ``deleted``); ``post_id`` is
    the post an approved queued post became."""

    reviewable_id: int
    status: str
    type: str
    event: str
    post_id: PostID | None = None
    topic_id: TopicID | None = None


InboxPayload = (
    ForumPost
    | ForumTopic
    | ForumLike
    | ChatMessage
    | ChatRedaction
    | ChatReaction
    | ChatInvite
    | IdentityLinked
    | ForumCategory
    | RoomSecurityChanged
    | ForumGroupUser
    | ChatKnock
    | MembershipRefresh
    | ForumUserChanged
    | ChatBan
    | PolicyRuleChanged
    | ReviewDecided
    | ForumReviewable
)

#: Which neutral type each inbox kind carries; the inbox stores the payload as JSON.
PAYLOAD_TYPES: dict[EventKind, type[InboxPayload]] = {
    EventKind.POST_CREATED: ForumPost,
    EventKind.POST_EDITED: ForumPost,
    EventKind.POST_DESTROYED: ForumPost,
    EventKind.POST_RECOVERED: ForumPost,
    EventKind.TOPIC_EDITED: ForumTopic,
    EventKind.TOPIC_DESTROYED: ForumTopic,
    EventKind.TOPIC_RECOVERED: ForumTopic,
    EventKind.POST_LIKED: ForumLike,
    EventKind.CHAT_MESSAGE: ChatMessage,
    EventKind.CHAT_REDACTION: ChatRedaction,
    EventKind.CHAT_REACTION: ChatReaction,
    EventKind.CHAT_INVITE: ChatInvite,
    EventKind.IDENTITY_LINKED: IdentityLinked,
    EventKind.CATEGORY_CHANGED: ForumCategory,
    EventKind.CATEGORY_DESTROYED: ForumCategory,
    EventKind.ROOM_SECURITY_CHANGED: RoomSecurityChanged,
    EventKind.GROUP_USER_ADDED: ForumGroupUser,
    EventKind.GROUP_USER_REMOVED: ForumGroupUser,
    EventKind.CHAT_KNOCK: ChatKnock,
    EventKind.MEMBERSHIP_REFRESH: MembershipRefresh,
    EventKind.FORUM_USER_CHANGED: ForumUserChanged,
    EventKind.CHAT_BAN: ChatBan,
    EventKind.POLICY_RULE_CHANGED: PolicyRuleChanged,
    EventKind.REVIEW_DECIDED: ReviewDecided,
    EventKind.FORUM_REVIEWABLE: ForumReviewable,
}
