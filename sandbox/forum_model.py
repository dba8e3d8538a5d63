"""The sandbox forum's records and its permission rules (a small Guardian).

The records mirror the Discourse tables the double needs (users, groups, categories, topics,
posts, uploads, queued posts). Permission rules follow Discourse's category security model:
group permission types ``full`` (1), ``create_post`` (2) and ``readonly`` (3), the automatic
groups, and staff overrides (``docs/policies.md``, "Tiers").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.forum_render import base62

FULL, CREATE_POST, READONLY = 1, 2, 3
LIKE = 2  # post_action_type_id of a like

#: Discourse's automatic groups (``Group::AUTO_GROUPS``).
AUTO_GROUPS: dict[str, int] = {
    "everyone": 0,
    "admins": 1,
    "moderators": 2,
    "staff": 3,
    "trust_level_0": 10,
    "trust_level_1": 11,
    "trust_level_2": 12,
    "trust_level_3": 13,
    "trust_level_4": 14,
}

INVALID_ACCESS = "You are not permitted to view the requested resource."
BAD_CREDENTIALS = INVALID_ACCESS + " The API username or key is invalid."
NOT_FOUND = "The requested URL or resource could not be found."
NOT_LOGGED_IN = "You need to be logged in to do that."


class SandboxRejection(Exception):
    """The forum refuses an action; carries what the API would answer.

    Forum-side actions (``SandboxForum.reply`` ...) raise it too, so a test that writes an
    unrealistic post (too short, say) learns it the way a member would.
    """

    def __init__(
        self,
        status: int,
        errors: list[str],
        error_type: str | None = None,
        *,
        action: str | None = None,
        extras: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {'; '.join(errors)}")
        self.status = status
        self.errors = errors
        self.error_type = error_type
        self.action = action
        self.extras = extras
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body Discourse renders for this error (``lib/json_error.rb``)."""
        body: dict[str, Any] = {}
        if self.action is not None:
            body["action"] = self.action
        body["errors"] = self.errors
        if self.error_type is not None:
            body["error_type"] = self.error_type
        if self.extras is not None:
            body["extras"] = self.extras
        return body


def forbidden(message: str = INVALID_ACCESS) -> SandboxRejection:
    return SandboxRejection(403, [message], "invalid_access")


def not_found() -> SandboxRejection:
    return SandboxRejection(404, [NOT_FOUND], "not_found")


@dataclass
class User:
    id: int
    username: str
    name: str | None
    admin: bool
    moderator: bool
    trust_level: int
    groups: list[str]
    created_at: datetime
    title: str | None = None
    last_posted_at: datetime | None = None
    #: Penalties (``Admin::UsersController#suspend`` / ``#silence``; forum_sanctions.py).
    suspended_till: datetime | None = None
    suspended_at: datetime | None = None
    suspend_reason: str | None = None
    suspended_by_id: int | None = None
    silenced_till: datetime | None = None
    silenced_at: datetime | None = None
    silence_reason: str | None = None
    silenced_by_id: int | None = None

    @property
    def staff(self) -> bool:
        return self.admin or self.moderator

    @property
    def username_lower(self) -> str:
        return self.username.lower()


@dataclass
class Group:
    id: int
    name: str
    automatic: bool


@dataclass
class Category:
    id: int
    name: str
    slug: str
    position: int
    read_restricted: bool
    #: group name -> permission type; empty means ``everyone: full``.
    permissions: dict[str, int]
    color: str
    require_approval: bool = False
    description: str | None = None


@dataclass
class Topic:
    id: int
    title: str
    slug: str
    category_id: int | None
    user_id: int
    created_at: datetime
    archetype: str = "regular"
    tags: list[str] = field(default_factory=list)
    allowed_user_ids: set[int] = field(default_factory=set)
    deleted_at: datetime | None = None
    deleted_by_id: int | None = None
    visible: bool = True
    closed: bool = False
    archived: bool = False
    views: int = 0
    bumped_at: datetime | None = None

    @property
    def is_private_message(self) -> bool:
        return self.archetype == "private_message"


@dataclass
class Revision:
    """A ``PostRevision``: who made version ``number`` of a post (later edits by the same
    editor within the grace period stay in it), and the raw it replaced."""

    number: int
    user_id: int
    created_at: datetime
    previous_raw: str
    edit_reason: str | None = None


@dataclass
class Post:
    id: int
    topic_id: int
    post_number: int
    user_id: int
    raw: str
    cooked: str
    created_at: datetime
    updated_at: datetime
    reply_to_post_number: int | None = None
    version: int = 1
    edit_reason: str | None = None
    deleted_at: datetime | None = None
    deleted_by_id: int | None = None
    user_deleted: bool = False
    post_type: int = 1
    hidden: bool = False
    wiki: bool = False
    #: user id -> when they liked it
    likes: dict[int, datetime] = field(default_factory=dict)
    #: earlier raws, newest last (what a recovery of an author's self-delete restores)
    previous_raws: list[str] = field(default_factory=list)
    #: who made the current version, and when it began (PostRevisor's grace-period rule)
    last_editor_id: int = 0
    last_version_at: datetime | None = None
    #: ``PostRevision`` rows, oldest first: one per version after the first
    revisions: list[Revision] = field(default_factory=list)

    @property
    def is_first_post(self) -> bool:
        return self.post_number == 1


@dataclass
class Upload:
    id: int
    sha1: str
    extension: str
    data: bytes
    original_filename: str
    content_type: str
    user_id: int
    width: int | None
    height: int | None

    @property
    def url(self) -> str:
        return f"/uploads/default/original/1X/{self.sha1}.{self.extension}"


@dataclass
class PendingPost:
    id: int
    user_id: int
    raw: str
    topic_id: int | None
    title: str | None
    category_id: int | None
    created_at: datetime
    reply_to_post_number: int | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class ForumData:
    """The forum's tables and the permission rules that read them."""

    #: ``Discourse.current_hostname`` (no port), as in avatar templates
    host: str
    users: dict[int, User] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    categories: dict[int, Category] = field(default_factory=dict)
    topics: dict[int, Topic] = field(default_factory=dict)
    posts: dict[int, Post] = field(default_factory=dict)
    uploads: dict[int, Upload] = field(default_factory=dict)
    pending: dict[int, PendingPost] = field(default_factory=dict)
    tag_ids: dict[str, int] = field(default_factory=dict)

    # --- lookups -----------------------------------------------------------------------------

    def user_named(self, username: str) -> User | None:
        wanted = username.lower()
        return next((u for u in self.users.values() if u.username_lower == wanted), None)

    def category_by_ref(self, ref: str | int) -> Category | None:
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            return self.categories.get(int(ref))
        return next((c for c in self.categories.values() if c.slug == ref), None)

    def topic_posts(self, topic_id: int) -> list[Post]:
        return sorted(
            (p for p in self.posts.values() if p.topic_id == topic_id), key=lambda p: p.post_number
        )

    def first_post(self, topic_id: int) -> Post | None:
        return next((p for p in self.topic_posts(topic_id) if p.post_number == 1), None)

    def post_by_number(self, topic_id: int, number: int) -> Post | None:
        return next((p for p in self.topic_posts(topic_id) if p.post_number == number), None)

    def upload_by_short(self, short: str) -> Upload | None:
        return next(
            (u for u in self.uploads.values() if f"{base62(u.sha1)}.{u.extension}" == short), None
        )

    # --- groups ------------------------------------------------------------------------------

    def group_names(self, user: User | None) -> set[str]:
        """Every group a user is in, the automatic ones included (anonymous: ``everyone``)."""
        if user is None:
            return {"everyone"}
        names = {"everyone", *user.groups}
        names.update(f"trust_level_{level}" for level in range(user.trust_level + 1))
        if user.admin:
            names.add("admins")
        if user.moderator:
            names.add("moderators")
        if user.staff:
            names.add("staff")
        return names

    # --- the Guardian ------------------------------------------------------------------------

    def category_permission(self, user: User | None, category: Category) -> int | None:
        """The best permission type the user holds on a category (None: none at all)."""
        if user is not None and user.admin:
            return FULL
        grants = category.permissions or {"everyone": FULL}
        held = [kind for group, kind in grants.items() if group in self.group_names(user)]
        return min(held) if held else None

    def can_see_category(self, user: User | None, category: Category) -> bool:
        if not category.read_restricted:
            return True
        return self.category_permission(user, category) is not None

    def can_see_topic(self, user: User | None, topic: Topic) -> bool:
        if topic.deleted_at is not None and not (user is not None and user.staff):
            return False
        if topic.is_private_message:
            return user is not None and (user.admin or user.id in topic.allowed_user_ids)
        category = self.categories.get(topic.category_id or 0)
        return category is None or self.can_see_category(user, category)

    def can_see_post(self, user: User | None, post: Post) -> bool:
        topic = self.topics[post.topic_id]
        if not self.can_see_topic(user, topic):
            return False
        return post.deleted_at is None or (user is not None and user.staff)

    def can_create_topic(self, user: User, category: Category) -> bool:
        return self.category_permission(user, category) == FULL

    def can_reply(self, user: User, topic: Topic) -> bool:
        if topic.deleted_at is not None:
            return False
        if topic.closed or topic.archived:
            return user.staff
        if topic.is_private_message:
            return user.admin or user.id in topic.allowed_user_ids
        category = self.categories.get(topic.category_id or 0)
        if category is None:
            return True
        permission = self.category_permission(user, category)
        return permission is not None and permission <= CREATE_POST

    def can_edit_post(self, user: User | None, post: Post) -> bool:
        if user is None or post.deleted_at is not None:
            return False
        return user.staff or (post.user_id == user.id and not post.user_deleted)

    def can_delete_post(self, user: User | None, post: Post) -> bool:
        if user is None or post.deleted_at is not None:
            return False
        return user.staff or (post.user_id == user.id and not post.user_deleted)

    def can_recover_post(self, user: User | None, post: Post) -> bool:
        if user is None:
            return False
        if post.deleted_at is not None:
            return user.staff
        return post.user_deleted and (user.staff or user.id == post.user_id)
