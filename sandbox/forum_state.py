"""What happens on the sandbox forum, and which webhook events each thing fires.

Every change, whether a test drives it as a member (``SandboxForum.reply``) or porch drives it
through the REST API, goes through :class:`ForumState`, so both fire the same events, as on a
real forum:

- a new topic fires ``topic_created`` then ``post_created``; a reply ``post_created``;
- an edit fires ``post_edited``, or only ``topic_edited`` when the first post's topic changed
  (title, category); nothing fires while the topic is deleted;
- a moderator's delete fires ``post_destroyed`` (+ ``topic_destroyed`` for a first post) with
  payloads built *before* the delete; an author deleting their own post (non-staff) gets the
  text replaced by "(post deleted by author)", which fires ``post_edited``, then
  ``post_destroyed`` (+ ``topic_destroyed``);
- a recovery fires ``post_edited`` (author self-delete undone), ``post_recovered``,
  ``topic_recovered`` (first post).

The caller holds the forum's lock around every method and drains :attr:`ForumState.outbox`.
"""

from __future__ import annotations

import difflib
import hashlib
import mimetypes
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.forum_model import (
    AUTO_GROUPS,
    FULL,
    Category,
    ForumData,
    Group,
    PendingPost,
    Post,
    Revision,
    SandboxRejection,
    Topic,
    Upload,
    User,
    forbidden,
    not_found,
)
from sandbox.forum_render import cook, image_size, now, slugify, without_comments
from sandbox.forum_review import reviewable_payload
from sandbox.forum_serialize import (
    basic_user,
    category_show,
    webhook_post,
    webhook_topic,
)

_USERNAME = re.compile(r"^[\w.-]{2,60}$")
_COLORS = ["0088CC", "BF1E2E", "3AB54A", "F7941D", "652D90", "12A89D", "25AAE2", "ED207B"]


@dataclass(frozen=True)
class Event:
    """One webhook event: its type (the body's root key), its name and its payload."""

    type: str
    name: str
    payload: dict[str, Any]


@dataclass
class Settings:
    """The site settings the double honours, with Discourse's defaults."""

    min_post_length: int = 20
    min_first_post_length: int = 20
    min_personal_message_post_length: int = 10
    min_topic_title_length: int = 15
    max_post_length: int = 32000
    #: identical text from the same (non-staff) user within this many minutes is refused
    unique_posts_mins: int = 5
    #: edits by the same user within this many seconds keep the version (a "ninja edit")
    editing_grace_period: int = 300
    editing_grace_period_max_diff: int = 100
    #: hours; above 0 an author's own delete only marks the post
    delete_removed_posts_after: int = 24
    #: seconds between two posts of one non-staff user (0: no limit, the double's default)
    rate_limit_create_post: float = 0.0
    max_image_size_kb: int = 4096
    max_attachment_size_kb: int = 4096
    authorized_extensions: tuple[str, ...] = (
        "jpg",
        "jpeg",
        "png",
        "gif",
        "heic",
        "heif",
        "webp",
        "avif",
    )
    #: hosts (``|``-separated) the forum may call although they resolve to private or loopback
    #: addresses; others are refused when a webhook is saved (reference §1.1, SSRF guard)
    allowed_internal_hosts: str = ""
    #: watched words are regular expressions (reference §4)
    watched_words_regular_expressions: bool = False


#: Site setting categories (the admin's settings tabs) of the settings the double has.
_SETTING_CATEGORIES = {
    "allowed_internal_hosts": "security",
    "max_image_size_kb": "files",
    "max_attachment_size_kb": "files",
    "authorized_extensions": "files",
    "rate_limit_create_post": "rate_limits",
    "unique_posts_mins": "rate_limits",
}
#: Site setting types other than what the Python type says.
_SETTING_TYPES = {
    "allowed_internal_hosts": "host_list",
    "authorized_extensions": "list",
    "watched_words_regular_expressions": "bool",
}


def _setting_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "|".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def site_settings_json(settings: Settings, names: Sequence[str] = ()) -> dict[str, Any]:
    """``GET /admin/site_settings.json``: ``{"site_settings": [...]}`` as
    ``SiteSetting.all_settings`` shapes each entry (values as strings; ``names`` filters, as
    newer forums' ``filter_names[]`` does)."""
    defaults = Settings()
    entries = []
    for name in Settings.__dataclass_fields__:
        if names and name not in names:
            continue
        value = getattr(settings, name)
        kind = _SETTING_TYPES.get(name) or {int: "integer", float: "float", str: "string"}.get(
            type(value), "string"
        )
        entries.append(
            {
                "setting": name,
                "humanized_name": name.replace("_", " ").capitalize(),
                "description": "",
                "default": _setting_text(getattr(defaults, name)),
                "value": _setting_text(value),
                "category": _SETTING_CATEGORIES.get(name, "posting"),
                "preview": None,
                "secret": False,
                "type": kind,
            }
        )
    return {"site_settings": entries}


def set_site_setting(settings: Settings, name: str, value: str) -> None:
    """``PUT /admin/site_settings/{name}``: parse ``value`` as the setting's type and set it."""
    if name not in Settings.__dataclass_fields__:
        raise SandboxRejection(422, [f"No setting named '{name}' exists"], "invalid_parameters")
    current = getattr(settings, name)
    parsed: object
    try:
        if isinstance(current, tuple):
            parsed = tuple(v for v in value.split("|") if v)
        elif isinstance(current, bool):
            parsed = value.lower() in ("true", "t", "1")
        elif isinstance(current, int):
            parsed = int("".join(c for c in value if c in "-0123456789"))
        elif isinstance(current, float):
            parsed = float(value)
        else:
            parsed = value.strip()
    except ValueError:
        raise SandboxRejection(
            422, [f"Value of {name} is not valid: {value}"], "invalid_parameters"
        ) from None
    setattr(settings, name, parsed)


@dataclass
class ForumState(ForumData):
    settings: Settings = field(default_factory=Settings)
    outbox: list[Event] = field(default_factory=list)
    #: The admin's watched words, as ``WatchedWordSerializer`` shows them (``word``, ``action``
    #: name, ``replacement``, ``case_sensitive``); only served, not enforced.
    watched_words: list[dict[str, Any]] = field(default_factory=list)
    #: Plain flags (no ``take_action``): ``{post_id, username, type, message}`` each.
    flags: list[dict[str, Any]] = field(default_factory=list)
    #: Members whose posts wait for a moderator wherever they post (the admin's "require
    #: approval" for a user; Discourse: ``approve_unless_trust_level`` and friends).
    review_user_ids: set[int] = field(default_factory=set)
    #: ``Post#store_unique_post_key``: (user id, private message?, SHA1 of raw) -> (expiry on
    #: :meth:`redis_now`, post id). Kept for ``unique_posts_mins`` after a post is created,
    #: whatever happens to the post meanwhile (a Redis key with a TTL).
    unique_post_keys: dict[tuple[int, bool, str], tuple[float, int]] = field(default_factory=dict)
    #: Seconds added to the clock of the forum's Redis keys (the unique-post keys and the API
    #: memo): tests let time pass for them without waiting (:meth:`SandboxForum.advance_redis`).
    redis_offset: float = 0.0
    _next: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, group_id in AUTO_GROUPS.items():
            self.groups[name] = Group(group_id, name, automatic=True)
        self._next.update(user=1, category=1, topic=1, post=1, upload=1, pending=1, group=41)
        self._next["tag"] = 1
        self.users[-1] = User(-1, "system", "system", True, False, 4, [], now())
        self.add_category("uncategorized", "Uncategorized")

    def redis_now(self) -> float:
        """The clock the forum's Redis TTLs run on."""
        return time.monotonic() + self.redis_offset

    def _unique_key(self, actor: User, raw: str, pm: bool) -> tuple[int, bool, str]:
        # Post#unique_post_key: "unique[-pm]-post-#{user_id}:#{raw_hash}", SHA1 of the raw.
        return (actor.id, pm, hashlib.sha1(raw.encode("utf-8")).hexdigest())

    def _id(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] = value + 1
        return value

    @property
    def system(self) -> User:
        return self.users[-1]

    # --- members and categories -------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        name: str | None,
        admin: bool,
        moderator: bool,
        trust_level: int,
        groups: Sequence[str],
    ) -> User:
        if not _USERNAME.match(username):
            raise ValueError(f"username {username!r} is not a valid Discourse username")
        if self.user_named(username) is not None:
            raise ValueError(f"username {username!r} is already taken")
        if not 0 <= trust_level <= 4:
            raise ValueError(f"trust_level must be 0..4, got {trust_level}")
        for group in groups:
            self._ensure_group(group)
        user = User(
            self._id("user"), username, name, admin, moderator, trust_level, list(groups), now()
        )
        self.users[user.id] = user
        return user

    def _ensure_group(self, name: str) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(self._id("group"), name, automatic=False)
        return self.groups[name]

    def add_category(
        self,
        slug: str,
        name: str | None = None,
        *,
        read_restricted: bool = False,
        group_permissions: Mapping[str, int] | None = None,
        require_approval: bool = False,
    ) -> Category:
        if self.category_by_ref(slug) is not None:
            raise ValueError(f"category slug {slug!r} is already taken")
        restricted, permissions = self._security(read_restricted, group_permissions)
        category_id = self._id("category")
        category = Category(
            id=category_id,
            name=name or slug.replace("-", " ").capitalize(),
            slug=slug,
            position=len(self.categories),
            read_restricted=restricted,
            permissions=permissions,
            color=_COLORS[category_id % len(_COLORS)],
            require_approval=require_approval,
        )
        self.categories[category.id] = category
        return category

    def set_category_security(
        self,
        category: Category,
        *,
        read_restricted: bool = False,
        group_permissions: Mapping[str, int] | None = None,
    ) -> None:
        """The admin's Security tab: who may see, reply and create (``Category.
        resolve_permissions``); fires ``category_updated`` with the category as an admin
        sees it (``WebHookCategorySerializer``, reference §5)."""
        category.read_restricted, category.permissions = self._security(
            read_restricted, group_permissions
        )
        shown = category_show(self, category, self.system)["category"]
        self._emit("category", "category_updated", shown)

    def _security(
        self, read_restricted: bool, group_permissions: Mapping[str, int] | None
    ) -> tuple[bool, dict[str, int]]:
        permissions = dict(group_permissions or {})
        for group, kind in permissions.items():
            if kind not in (1, 2, 3):
                raise ValueError(f"permission type for {group!r} must be 1, 2 or 3, got {kind}")
            self._ensure_group(group)
        if read_restricted and not permissions:
            permissions = {"staff": FULL}
        if permissions == {"everyone": FULL}:
            permissions = {}  # Discourse stores "everyone: full" as no rows at all
        restricted = bool(permissions) and "everyone" not in permissions
        if read_restricted and not restricted:
            raise ValueError("a read-restricted category cannot grant the group 'everyone'")
        return restricted, permissions

    # --- posting -----------------------------------------------------------------------------

    def create_post(
        self,
        actor: User,
        *,
        raw: str,
        topic_id: int | None = None,
        title: str | None = None,
        category: str | int | None = None,
        reply_to_post_number: int | None = None,
        tags: Sequence[str] = (),
        target_recipients: Sequence[str] = (),
        skip_validations: bool = False,
        skip_review: bool = False,
    ) -> Post | PendingPost:
        """PostCreator: a reply when ``topic_id`` is given, else a new topic (or a PM)."""
        errors: list[str] = []
        topic: Topic | None = None
        target_category: Category | None = None
        recipients: list[User] = []
        if topic_id is not None:
            topic = self.topics.get(topic_id)
            if topic is None or not self.can_see_topic(actor, topic):
                raise SandboxRejection(422, ["Topic not found"], action="create_post")
            if not self.can_reply(actor, topic):
                raise forbidden()
        elif target_recipients:
            for name in target_recipients:
                user = self.user_named(name)
                if user is None:
                    raise SandboxRejection(
                        422, [f"Sorry, {name} is not a user."], action="create_post"
                    )
                recipients.append(user)
        else:
            target_category = (
                self.category_by_ref(category) if category not in (None, "") else None
            )
            if category not in (None, "") and target_category is None:
                raise SandboxRejection(422, ["Category can't be blank"], action="create_post")
            target_category = target_category or self.category_by_ref("uncategorized")
            assert target_category is not None
            if not self.can_see_category(actor, target_category):
                raise SandboxRejection(422, ["Category can't be blank"], action="create_post")
            if not self.can_create_topic(actor, target_category):
                raise forbidden()
        is_new_topic = topic is None
        is_pm = bool(recipients) or (topic is not None and topic.is_private_message)
        if not skip_validations:
            errors += self._post_errors(actor, raw, is_new_topic, is_pm)
            if is_new_topic:
                errors += self._title_errors(title or "", None)
        if errors:
            raise SandboxRejection(422, errors, action="create_post")
        if not skip_validations:
            self._check_post_rate(actor)
        review_category = target_category or (
            self.categories.get(topic.category_id or 0) if topic else None
        )
        if (
            not skip_review
            and review_category is not None
            and (review_category.require_approval or actor.id in self.review_user_ids)
            and not actor.staff
        ):
            pending = PendingPost(
                id=self._id("pending"),
                user_id=actor.id,
                raw=raw,
                topic_id=topic.id if topic else None,
                title=title,
                category_id=review_category.id,
                created_at=now(),
                reply_to_post_number=reply_to_post_number,
                tags=list(tags),
            )
            self.pending[pending.id] = pending
            self._emit("reviewable", "reviewable_created", self._reviewable(pending, "pending"))
            return pending
        moment = now()
        if topic is None:
            topic = Topic(
                id=self._id("topic"),
                title=(title or "").strip(),
                slug=slugify(title or ""),
                category_id=None
                if recipients
                else (target_category.id if target_category else None),
                user_id=actor.id,
                created_at=moment,
                archetype="private_message" if recipients else "regular",
                tags=[t for t in dict.fromkeys(tags) if t],
                allowed_user_ids={actor.id, *(u.id for u in recipients)},
            )
            for tag in topic.tags:
                if tag not in self.tag_ids:
                    self.tag_ids[tag] = self._id("tag")
            self.topics[topic.id] = topic
        existing = self.topic_posts(topic.id)
        if (
            reply_to_post_number is not None
            and self.post_by_number(topic.id, reply_to_post_number) is None
        ):
            reply_to_post_number = None
        post = Post(
            id=self._id("post"),
            topic_id=topic.id,
            post_number=max((p.post_number for p in existing), default=0) + 1,
            user_id=actor.id,
            raw=raw,
            cooked=self.cook(raw),
            created_at=moment,
            updated_at=moment,
            reply_to_post_number=reply_to_post_number,
            last_editor_id=actor.id,
            last_version_at=moment,
        )
        self.posts[post.id] = post
        if self.settings.unique_posts_mins > 0:
            # PostCreator#store_unique_post_key, for every account (only the check spares staff)
            expiry = self.redis_now() + self.settings.unique_posts_mins * 60
            self.unique_post_keys[self._unique_key(actor, raw, is_pm)] = (expiry, post.id)
        topic.bumped_at = moment
        actor.last_posted_at = moment
        if is_new_topic:
            self._emit("topic", "topic_created", webhook_topic(self, topic))
        self._emit("post", "post_created", webhook_post(self, post))
        return post

    def approve(self, pending_id: int) -> Post:
        """A moderator approves a queued post: it is created now, with its webhooks."""
        pending = self.pending.pop(pending_id, None)
        if pending is None:
            raise KeyError(f"no queued post {pending_id}")
        result = self.create_post(
            self.users[pending.user_id],
            raw=pending.raw,
            topic_id=pending.topic_id,
            title=pending.title,
            category=pending.category_id,
            reply_to_post_number=pending.reply_to_post_number,
            tags=pending.tags,
            skip_validations=True,
            skip_review=True,
        )
        assert isinstance(result, Post)
        # After the post's own webhooks, as ``Reviewable#perform`` transitions after the action.
        self._emit(
            "reviewable",
            "reviewable_transitioned_to",
            self._reviewable(pending, "approved", result),
        )
        return result

    def reject(self, pending_id: int) -> None:
        """A moderator rejects a queued post: it is never created."""
        pending = self.pending.pop(pending_id, None)
        if pending is None:
            raise KeyError(f"no queued post {pending_id}")
        self._emit(
            "reviewable", "reviewable_transitioned_to", self._reviewable(pending, "rejected")
        )

    def _reviewable(
        self, pending: PendingPost, status: str, post: Post | None = None
    ) -> dict[str, Any]:
        topic_id = post.topic_id if post is not None else pending.topic_id
        topic = None if topic_id is None else self.topics.get(topic_id)
        return reviewable_payload(
            pending,
            self.users[pending.user_id],
            status,
            0 if status == "pending" else 1,
            post,
            None if topic is None else f"/t/{topic.slug}/{topic.id}",
        )

    def cook(self, raw: str) -> str:
        def resolve(short: str) -> str | None:
            upload = self.upload_by_short(short)
            return upload.url if upload else None

        return cook(raw, resolve, lambda name: self.user_named(name) is not None)

    def _post_errors(self, actor: User, raw: str, first: bool, pm: bool) -> list[str]:
        # Presence is judged on the raw; StrippedLengthValidator measures it without comments.
        text = without_comments(raw).strip()
        s = self.settings
        minimum = (
            s.min_personal_message_post_length
            if pm
            else (s.min_first_post_length if first else s.min_post_length)
        )
        if not raw.strip():
            return ["Body can’t be blank"]
        if len(text) < minimum:
            return [f"Body is too short (minimum is {minimum} characters)"]
        if len(text) > s.max_post_length:
            return [f"Body is too long (maximum is {s.max_post_length} characters)"]
        if s.unique_posts_mins > 0 and not actor.staff:
            # PostValidator#unique_post_validator: the key any post of the same raw by the
            # same user left in the last unique_posts_mins, in any topic, deleted or not.
            # The message is "#{Raw attribute} #{I18n.t(:just_posted_that)}".
            hit = self.unique_post_keys.get(self._unique_key(actor, raw, pm))
            if hit is not None and hit[0] > self.redis_now():
                return ["Body is too similar to what you recently posted"]
        return []

    def _title_errors(self, title: str, topic: Topic | None) -> list[str]:
        text = title.strip()
        if not text:
            return ["Title can’t be blank"]
        if len(text) < self.settings.min_topic_title_length:
            minimum = self.settings.min_topic_title_length
            return [f"Title is too short (minimum is {minimum} characters)"]
        for other in self.topics.values():
            if (
                other is not topic
                and other.deleted_at is None
                and not other.is_private_message
                and other.title.lower() == text.lower()
            ):
                return ["Title has already been used"]
        return []

    def _check_post_rate(self, actor: User) -> None:
        interval = self.settings.rate_limit_create_post
        if interval <= 0 or actor.staff or actor.last_posted_at is None:
            return
        wait = interval - (now() - actor.last_posted_at).total_seconds()
        if wait > 0:
            seconds = max(1, round(wait))
            left = "a few seconds" if seconds <= 3 else f"{seconds} seconds"
            raise SandboxRejection(
                429,
                [f"You’re replying a bit too quickly. Please wait {left} before trying again."],
                "rate_limit",
                extras={"wait_seconds": seconds, "time_left": left},
                headers={
                    "Retry-After": str(seconds),
                    "Discourse-Rate-Limit-Error-Code": "create_post",
                },
            )

    # --- revising ----------------------------------------------------------------------------

    def revise(
        self,
        post: Post,
        editor: User,
        *,
        raw: str | None = None,
        title: str | None = None,
        category: str | int | None = None,
        edit_reason: str | None = None,
        force_new_version: bool = False,
        skip_validations: bool = False,
    ) -> bool:
        """PostRevisor: change a post (and, for a first post, its topic). False: no change."""
        topic = self.topics[post.topic_id]
        raw_changed = raw is not None and raw != post.raw
        new_title = title.strip() if title is not None and post.is_first_post else None
        title_changed = new_title is not None and new_title != topic.title
        new_category: Category | None = None
        if category not in (None, "") and post.is_first_post:
            new_category = self.category_by_ref(category)
            if new_category is None:
                raise SandboxRejection(422, ["Category can't be blank"])
            if not self.can_create_topic(editor, new_category):
                raise forbidden()
        category_changed = new_category is not None and new_category.id != topic.category_id
        if not (raw_changed or title_changed or category_changed):
            return False
        if not skip_validations:
            errors: list[str] = []
            if raw_changed and raw is not None:
                errors += self._edit_errors(raw, post)
            if title_changed and new_title is not None:
                errors += self._title_errors(new_title, topic)
            if errors:
                raise SandboxRejection(422, errors)
        moment = now()
        if raw_changed and raw is not None:
            if self._new_version(post, editor, raw, edit_reason, force_new_version, moment):
                post.version += 1
                post.last_editor_id = editor.id
                post.last_version_at = moment
                post.edit_reason = edit_reason or None
                post.revisions.append(
                    Revision(post.version, editor.id, moment, post.raw, edit_reason or None)
                )
            elif edit_reason:
                post.edit_reason = edit_reason
            post.previous_raws.append(post.raw)
            post.raw = raw
            post.cooked = self.cook(raw)
        if title_changed and new_title is not None:
            topic.title = new_title
            topic.slug = slugify(new_title)
        if category_changed and new_category is not None:
            topic.category_id = new_category.id
        post.updated_at = moment
        if topic.deleted_at is None:
            if post.is_first_post and (title_changed or category_changed):
                self._emit("topic", "topic_edited", webhook_topic(self, topic))
            else:
                self._emit("post", "post_edited", webhook_post(self, post))
        return True

    def _edit_errors(self, raw: str, post: Post) -> list[str]:
        text = raw.strip()
        minimum = (
            self.settings.min_first_post_length
            if post.is_first_post
            else self.settings.min_post_length
        )
        if not text:
            return ["Body can’t be blank"]
        if len(text) < minimum:
            return [f"Body is too short (minimum is {minimum} characters)"]
        if len(text) > self.settings.max_post_length:
            return [f"Body is too long (maximum is {self.settings.max_post_length} characters)"]
        return []

    def _new_version(
        self,
        post: Post,
        editor: User,
        raw: str,
        edit_reason: str | None,
        force: bool,
        moment: Any,
    ) -> bool:
        """PostRevisor#should_create_new_version?: a quick small edit by the same editor
        of a post nobody replied to stays in the same version (the "ninja edit")."""
        if force or edit_reason or editor.id != post.last_editor_id:
            return True
        started = post.last_version_at or post.created_at
        if (moment - started).total_seconds() > self.settings.editing_grace_period:
            return True
        if any(
            p.reply_to_post_number == post.post_number and p.deleted_at is None
            for p in self.topic_posts(post.topic_id)
        ):
            return True
        changed = sum(
            max(i2 - i1, j2 - j1)
            for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
                None, post.raw, raw, autojunk=False
            ).get_opcodes()
            if tag != "equal"
        )
        return changed > self.settings.editing_grace_period_max_diff

    # --- deleting and recovering -------------------------------------------------------------

    def destroy(self, post: Post, actor: User) -> None:
        """PostDestroyer#destroy (the caller has checked that ``actor`` may delete ``post``)."""
        topic = self.topics[post.topic_id]
        post_payload = webhook_post(self, post)
        topic_payload = webhook_topic(self, topic) if post.is_first_post else None
        moment = now()
        if actor.staff or self.settings.delete_removed_posts_after < 1:
            post.deleted_at = moment
            post.deleted_by_id = actor.id
            if post.is_first_post:
                topic.deleted_at = moment
                topic.deleted_by_id = actor.id
        elif actor.id == post.user_id:
            post.user_deleted = True
            text = (
                "(topic deleted by author)" if post.is_first_post else "(post deleted by author)"
            )
            self.revise(post, actor, raw=text, force_new_version=True, skip_validations=True)
        else:
            raise forbidden()
        self._emit("post", "post_destroyed", post_payload)
        if topic_payload is not None:
            self._emit("topic", "topic_destroyed", topic_payload)

    def recover(self, post: Post, actor: User) -> None:
        """PostDestroyer#recover: undo a moderator's delete or an author's self-delete."""
        topic = self.topics[post.topic_id]
        if post.deleted_at is not None:
            if not actor.staff:
                raise forbidden()
            post.deleted_at = None
            post.deleted_by_id = None
        elif post.user_deleted:
            if not (actor.staff or actor.id == post.user_id):
                raise forbidden()
            post.user_deleted = False
            earlier = post.previous_raws[-1] if post.previous_raws else post.raw
            self.revise(post, actor, raw=earlier, force_new_version=True, skip_validations=True)
        else:
            raise SandboxRejection(422, ["This post is not deleted."])
        if post.is_first_post:
            topic.deleted_at = None
            topic.deleted_by_id = None
        self._emit("post", "post_recovered", webhook_post(self, post))
        if post.is_first_post:
            self._emit("topic", "topic_recovered", webhook_topic(self, topic))

    # --- likes -------------------------------------------------------------------------------

    def like(self, post: Post, actor: User) -> None:
        if post.user_id == actor.id or actor.id in post.likes or post.deleted_at is not None:
            raise forbidden()
        post.likes[actor.id] = now()
        self._emit(
            "like",
            "post_liked",
            {"post": webhook_post(self, post), "user": basic_user(self, actor)},
        )

    def unlike(self, post: Post, actor: User) -> None:
        if post.likes.pop(actor.id, None) is None:
            raise not_found()

    # --- uploads -----------------------------------------------------------------------------

    def add_upload(self, actor: User, data: bytes, filename: str, content_type: str) -> Upload:
        """UploadCreator: authorised extensions and size limits, deduplicated by SHA1."""
        extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        allowed = self.settings.authorized_extensions
        if extension not in allowed:
            raise SandboxRejection(
                422,
                [
                    "Sorry, the file you are trying to upload is not authorized (authorized "
                    f"extensions: {', '.join(allowed)})."
                ],
            )
        size = image_size(data)
        limit_kb = (
            self.settings.max_image_size_kb
            if size is not None
            else self.settings.max_attachment_size_kb
        )
        if len(data) > limit_kb * 1024:
            raise SandboxRejection(
                422,
                [
                    "Sorry, the file you are trying to upload is too big (maximum size is "
                    f"{limit_kb // 1024} MB)."
                ],
            )
        sha1 = hashlib.sha1(data).hexdigest()
        for upload in self.uploads.values():
            if upload.sha1 == sha1:
                return upload
        guessed = mimetypes.guess_type(filename)[0]
        upload = Upload(
            id=self._id("upload"),
            sha1=sha1,
            extension=extension,
            data=data,
            original_filename=filename,
            content_type=guessed or content_type or "application/octet-stream",
            user_id=actor.id,
            width=size[0] if size else None,
            height=size[1] if size else None,
        )
        self.uploads[upload.id] = upload
        return upload

    # --- events ------------------------------------------------------------------------------

    def _emit(self, kind: str, name: str, payload: dict[str, Any]) -> None:
        self.outbox.append(Event(kind, name, payload))
